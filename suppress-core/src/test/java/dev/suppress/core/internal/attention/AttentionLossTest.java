package dev.suppress.core.internal.attention;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.LossWeights;

import com.fasterxml.jackson.databind.JsonNode;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionLossTest {

    /**
     * Same float32 inputs, float64 arithmetic on both sides; only the order of the sums and of the cosine's
     * operations differ (measured about 1e-15).
     */
    private static final double LOSS_PARITY = 1e-12;
    /** The fixture's gradients are float64 autograd gradients rounded to float32 (relative error up to 2^-24). */
    private static final Tolerance GRADIENT_PARITY = new Tolerance(1e-7, 1e-12,
            "float64 gradients vs their float32 rounding in the fixture");
    /** Mask values are sums of quarters of 255: exactly representable, so thresholds must agree exactly. */
    private static final Tolerance MASK_PARITY = new Tolerance(0, 0, "masks are exact multiples of 63.75");
    /** Central differences with step 1e-6 on maps of order 1: truncation ~1e-12, cancellation ~1e-10. */
    private static final Tolerance FINITE_DIFFERENCES = new Tolerance(1e-6, 1e-7,
            "central differences, step 1e-6, float64");
    private static final double FINITE_DIFFERENCE_STEP = 1e-6;
    /** Scaled maps round differently in the last bit; the loss is a sum of a few dozen order-1 terms. */
    private static final double SCALED_LOSS = 1e-12;
    /** Gradients of scaled maps: last-bit rounding of the inputs, amplified by cancellation in small elements. */
    private static final Tolerance SCALED_GRADIENT = new Tolerance(1e-8, 1e-9,
            "float64 rounding of the scaled inputs");
    /** The plain per-token, per-pixel loss vs the one-pass version: float64 summation order. */
    private static final double PLAIN_VERSION = 1e-12;

    private static final String LOSS_FIXTURE = "losses/attn_loss.safetensors";

    @Test
    void matchesTheReferenceLossOnTheFixtureMaps() {
        JsonNode scalars = Fixtures.manifest().path("files").path(LOSS_FIXTURE).path("scalars");
        int n = scalars.path("n").asInt();
        int[] negatives = ints(scalars.path("token_indices"));
        assertEquals(6, n);
        assertArrayEquals(new int[] {4}, negatives);
        try (SafetensorsFile fixture = Fixtures.open(LOSS_FIXTURE)) {
            LossEvaluation evaluation = AttentionLoss.withReferenceSettings(n, negatives).evaluate(
                    fixture.tensor("attn"), fixture.tensor("attn_erase"), fixture.tensor("self_attn"),
                    fixture.tensor("self_attn_erase"));
            assertEquals(scalars.path("loss").asDouble(), evaluation.loss(), LOSS_PARITY, "loss");
            assertEquals(fixture.tensor("loss").get(0), (float) evaluation.loss(), "loss tensor (float32)");
            JsonNode parts = scalars.path("parts_unweighted");
            assertEquals(parts.path("retain").asDouble(), evaluation.parts().retain(), LOSS_PARITY, "retain");
            assertEquals(parts.path("erase").asDouble(), evaluation.parts().erase(), LOSS_PARITY, "erase");
            assertEquals(parts.path("self_retain").asDouble(), evaluation.parts().selfRetain(), LOSS_PARITY,
                    "self_retain");
            assertEquals(parts.path("self_erase").asDouble(), evaluation.parts().selfErase(), LOSS_PARITY,
                    "self_erase");
            assertEquals(16, evaluation.resolution());
            TensorAssertions.assertClose("masks", fixture.tensor("masks").toDoubleArray(), evaluation.masks(),
                    MASK_PARITY);
            int[] counts = ints(scalars.path("mask_pixel_counts"));
            for (int token = 1; token <= n - 2; token++) {
                assertEquals(counts[token - 1], evaluation.selectedPixels(token), "pixels selected by token " + token);
            }
            TensorAssertions.assertClose("grad_attn", fixture.tensor("grad_attn").toDoubleArray(),
                    evaluation.crossGradient(), GRADIENT_PARITY);
            TensorAssertions.assertClose("grad_attn_erase", fixture.tensor("grad_attn_erase").toDoubleArray(),
                    evaluation.crossErasedGradient(), GRADIENT_PARITY);
            TensorAssertions.assertClose("grad_self_attn", fixture.tensor("grad_self_attn").toDoubleArray(),
                    evaluation.selfGradient(), GRADIENT_PARITY);
            TensorAssertions.assertClose("grad_self_attn_erase",
                    fixture.tensor("grad_self_attn_erase").toDoubleArray(), evaluation.selfErasedGradient(),
                    GRADIENT_PARITY);
        }
    }

    @Test
    void matchesTheFirstItoLossOfTheEndToEndRun() {
        JsonNode scalars = Fixtures.manifest().path("files").path("e2e/gen_ito.safetensors")
                .path("scalars");
        int n = scalars.path("n").asInt();
        int[] negatives = ints(scalars.path("token_indices"));
        double expected = scalars.path("all_losses").path(0).asDouble();
        assertEquals(0.7514689338328963, expected, 0.0, "manifest all_losses[0]");
        try (SafetensorsFile fixture = Fixtures.open("e2e/gen_ito.safetensors")) {
            // Maps as the reference fed them to AttnLoss: divided by cur_step 11 (attn) and 12 (attn_erase).
            LossEvaluation evaluation = AttentionLoss.withReferenceSettings(n, negatives).evaluate(
                    fixture.tensor("ito_step10_iter0_attn"), fixture.tensor("ito_step10_iter0_attn_erase"),
                    fixture.tensor("ito_step10_iter0_self_attn"), fixture.tensor("ito_step10_iter0_self_attn_erase"));
            assertEquals(expected, evaluation.loss(), LOSS_PARITY, "ito_losses[0][0]");
            assertEquals(fixture.tensor("ito_losses").get(0), (float) evaluation.loss(), "ito_losses[0][0] (float32)");
        }
    }

    @Test
    void referenceStepCountDivisionKeepsTheLossAndScalesTheGradients() {
        // The reference divides the maps by its UNet pass count (11 for the original branch, 12 for the erased one
        // at step 10; MANIFEST.md): cosines and masks do not see it, d/d(map/k) = k d/d(map).
        try (SafetensorsFile fixture = Fixtures.open(LOSS_FIXTURE)) {
            double[] cross = fixture.tensor("attn").toDoubleArray();
            double[] crossErased = fixture.tensor("attn_erase").toDoubleArray();
            double[] self = fixture.tensor("self_attn").toDoubleArray();
            double[] selfErased = fixture.tensor("self_attn_erase").toDoubleArray();
            AttentionLoss loss = AttentionLoss.withReferenceSettings(6, 4);
            LossEvaluation plain = loss.evaluate(16, cross, crossErased, self, selfErased);
            LossEvaluation divided = loss.evaluate(16, scaled(cross, 1.0 / 11), scaled(crossErased, 1.0 / 12),
                    scaled(self, 1.0 / 11), scaled(selfErased, 1.0 / 12));
            assertEquals(plain.loss(), divided.loss(), SCALED_LOSS * Math.abs(plain.loss()), "loss");
            TensorAssertions.assertClose("masks", plain.masks(), divided.masks(), MASK_PARITY);
            TensorAssertions.assertClose("dL/dA", scaled(plain.crossGradient(), 11), divided.crossGradient(),
                    SCALED_GRADIENT);
            TensorAssertions.assertClose("dL/dÂ", scaled(plain.crossErasedGradient(), 12),
                    divided.crossErasedGradient(), SCALED_GRADIENT);
            TensorAssertions.assertClose("dL/dS", scaled(plain.selfGradient(), 11), divided.selfGradient(),
                    SCALED_GRADIENT);
            TensorAssertions.assertClose("dL/dŜ", scaled(plain.selfErasedGradient(), 12),
                    divided.selfErasedGradient(), SCALED_GRADIENT);
        }
    }

    @Test
    void lossIsInvariantToScalingAllMaps() {
        Random random = new Random(345);
        RandomMaps maps = RandomMaps.create(random, 5, 9, 6);
        AttentionLoss loss = AttentionLoss.withReferenceSettings(6, 2, 4);
        LossEvaluation plain = maps.evaluate(loss);
        for (double k : new double[] {3.7, 1.0 / 11, 1e-3}) {
            LossEvaluation scaled = loss.evaluate(5, scaled(maps.cross, k), scaled(maps.crossErased, k),
                    scaled(maps.self, k), scaled(maps.selfErased, k));
            assertEquals(plain.loss(), scaled.loss(), SCALED_LOSS * Math.abs(plain.loss()), "scale " + k);
            TensorAssertions.assertClose("masks at scale " + k, plain.masks(), scaled.masks(), MASK_PARITY);
        }
    }

    static Stream<Arguments> configurations() {
        return Stream.of(
                Arguments.of(6, new int[] {2, 4}, new LossWeights(0.3, -0.7, 1.3, -0.2)),
                Arguments.of(6, new int[] {4}, LossWeights.REFERENCE),
                Arguments.of(3, new int[] {1}, LossWeights.REFERENCE),
                Arguments.of(3, new int[] {}, LossWeights.REFERENCE),
                Arguments.of(5, new int[] {}, new LossWeights(0.5, -1, 2, -1)));
    }

    @ParameterizedTest(name = "n={0}, negatives={1}, weights={2}")
    @MethodSource("configurations")
    void analyticGradientMatchesCentralDifferences(int n, int[] negatives, LossWeights weights) {
        Random random = new Random(347 + n + 31L * negatives.length);
        int res = 4;
        RandomMaps maps = RandomMaps.create(random, res, 8, n);
        AttentionLoss loss = new AttentionLoss(n, negatives, weights, new TokenMaskOptions(0.85, 0.95, 32));
        LossEvaluation evaluation = maps.evaluate(loss);
        double[][] arrays = {maps.cross, maps.crossErased, maps.self, maps.selfErased};
        double[][] analytic = {evaluation.crossGradient(), evaluation.crossErasedGradient(),
            evaluation.selfGradient(), evaluation.selfErasedGradient()};
        String[] names = {"dL/dA", "dL/dÂ", "dL/dS", "dL/dŜ"};
        for (int which = 0; which < 4; which++) {
            double[] array = arrays[which];
            double[] numeric = new double[array.length];
            for (int i = 0; i < array.length; i++) {
                double saved = array[i];
                array[i] = saved + FINITE_DIFFERENCE_STEP;
                LossEvaluation plus = maps.evaluate(loss);
                array[i] = saved - FINITE_DIFFERENCE_STEP;
                LossEvaluation minus = maps.evaluate(loss);
                array[i] = saved;
                if (which == 0) {
                    // Masks have no gradient; the step must not move a pixel across a threshold.
                    assertArrayEquals(evaluation.masks(), plus.masks(), "masks moved at A[" + i + "]");
                    assertArrayEquals(evaluation.masks(), minus.masks(), "masks moved at A[" + i + "]");
                }
                numeric[i] = (plus.loss() - minus.loss()) / (2 * FINITE_DIFFERENCE_STEP);
            }
            TensorAssertions.assertClose(names[which], numeric, analytic[which], FINITE_DIFFERENCES);
        }
    }

    @ParameterizedTest(name = "n={0}, negatives={1}, weights={2}")
    @MethodSource("configurations")
    void matchesAPlainPerTokenPerPixelLoss(int n, int[] negatives, LossWeights weights) {
        Random random = new Random(349 + n);
        RandomMaps maps = RandomMaps.create(random, 6, 10, n);
        AttentionLoss loss = new AttentionLoss(n, negatives, weights, TokenMaskOptions.REFERENCE);
        LossEvaluation evaluation = maps.evaluate(loss);
        LossParts plain = plainParts(maps, n, negatives, evaluation.masks());
        assertEquals(plain.retain(), evaluation.parts().retain(), PLAIN_VERSION, "retain");
        assertEquals(plain.erase(), evaluation.parts().erase(), PLAIN_VERSION, "erase");
        assertEquals(plain.selfRetain(), evaluation.parts().selfRetain(), PLAIN_VERSION, "selfRetain");
        assertEquals(plain.selfErase(), evaluation.parts().selfErase(), PLAIN_VERSION, "selfErase");
        assertEquals(plain.weightedSum(weights), evaluation.loss(), PLAIN_VERSION, "loss");
        if (negatives.length == 0) {
            assertEquals(0.0, evaluation.parts().erase());
            assertEquals(0.0, evaluation.parts().selfErase());
        }
        if (n == 3 && negatives.length == 1) {
            assertEquals(0.0, evaluation.parts().retain());
            assertEquals(0.0, evaluation.parts().selfRetain());
        }
    }

    @Test
    void aPixelSelectedByTwoTokensCountsTwice() {
        Random random = new Random(350);
        RandomMaps maps = RandomMaps.create(random, 4, 7, 6);
        // Tokens 1 and 3 get the same reference column, hence the same mask.
        for (int p = 0; p < 16; p++) {
            maps.cross[p * 7 + 3] = maps.cross[p * 7 + 1];
        }
        AttentionLoss loss = new AttentionLoss(6, new int[] {}, new LossWeights(0, 0, 1, 0),
                TokenMaskOptions.REFERENCE);
        LossEvaluation evaluation = maps.evaluate(loss);
        double[] masks = evaluation.masks();
        assertArrayEquals(Arrays.copyOfRange(masks, 0, 16), Arrays.copyOfRange(masks, 32, 48));
        LossParts plain = plainParts(maps, 6, new int[] {}, masks);
        assertEquals(plain.selfRetain(), evaluation.parts().selfRetain(), PLAIN_VERSION);
        assertTrue(evaluation.selectedPixels(1) > 0);
    }

    @Test
    void allZeroColumnsFollowTorchsEpsClamp() {
        Random random = new Random(351);
        int res = 4;
        int keys = 6;
        int pixels = res * res;
        RandomMaps maps = RandomMaps.create(random, res, keys, 6);
        // Token 2's reference cross column is all zero: no mask (the reference's 0/0 selects nothing), cos = 0.
        for (int p = 0; p < pixels; p++) {
            maps.cross[p * keys + 2] = 0;
        }
        AttentionLoss loss = AttentionLoss.withReferenceSettings(6, 4);
        LossEvaluation before = maps.evaluate(loss);
        int selectedKeyPixel = firstSelected(before.masks(), 3 - 1, pixels);
        // The erased self column of a key pixel that token 3 selects is all zero.
        for (int q = 0; q < pixels; q++) {
            maps.selfErased[q * pixels + selectedKeyPixel] = 0;
        }
        LossEvaluation evaluation = maps.evaluate(loss);
        assertEquals(0, evaluation.selectedPixels(2));
        for (double value : evaluation.crossGradient()) {
            assertTrue(Double.isFinite(value), "finite dL/dA");
        }
        assertTrue(Double.isFinite(evaluation.loss()));
        // d(1 - cos)/dA_i = -(Â_i / (eps |Â_i|)) where A_i = 0, weighted by λ_r = 1.
        double erasedNorm = columnNorm(maps.crossErased, keys, 2, pixels);
        double[] crossGradient = evaluation.crossGradient();
        for (int p = 0; p < pixels; p++) {
            double expected = -maps.crossErased[p * keys + 2] / (ColumnCosines.EPS * erasedNorm);
            assertEquals(expected, crossGradient[p * keys + 2], 1e-12 * Math.abs(expected), "dL/dA[" + p + ", 2]");
        }
        // dL/dŜ_j = -w_j S_j / (|S_j| eps), and dL/dS_j = 0 since Ŝ_j = 0 and cos = 0.
        double selfNorm = columnNorm(maps.self, pixels, selectedKeyPixel, pixels);
        double weight = selfWeight(evaluation.masks(), selectedKeyPixel, pixels, 6, 4);
        double[] selfErasedGradient = evaluation.selfErasedGradient();
        double[] selfGradient = evaluation.selfGradient();
        for (int q = 0; q < pixels; q++) {
            int index = q * pixels + selectedKeyPixel;
            double expected = -weight * maps.self[index] / (selfNorm * ColumnCosines.EPS);
            assertEquals(expected, selfErasedGradient[index], 1e-12 * Math.abs(expected), "dL/dŜ[" + index + "]");
            assertEquals(0.0, selfGradient[index], "dL/dS[" + index + "]");
        }
        // Both zero columns count as distance 1 (cos = 0), as the plain loss says.
        LossParts plain = plainParts(maps, 6, new int[] {4}, evaluation.masks());
        assertEquals(plain.retain(), evaluation.parts().retain(), PLAIN_VERSION, "retain");
        assertEquals(plain.selfRetain(), evaluation.parts().selfRetain(), PLAIN_VERSION, "selfRetain");
        assertEquals(plain.selfErase(), evaluation.parts().selfErase(), PLAIN_VERSION, "selfErase");
    }

    @Test
    void objectiveReturnsTheErasedGradientsAsFloatTensors() {
        try (SafetensorsFile fixture = Fixtures.open(LOSS_FIXTURE)) {
            AttentionMaps reference = new AttentionMaps(fixture.tensor("attn").reshape(1, 16, 16, 77),
                    fixture.tensor("self_attn").reshape(1, 16, 16, 256), Map.of());
            AttentionMaps erased = new AttentionMaps(fixture.tensor("attn_erase").reshape(1, 16, 16, 77),
                    fixture.tensor("self_attn_erase").reshape(1, 16, 16, 256), Map.of());
            AttentionLoss loss = AttentionLoss.withReferenceSettings(6, 4);
            AttentionObjective objective = loss.objective(reference);
            ObjectiveGradient gradient = objective.evaluate(erased);
            LossEvaluation evaluation = loss.evaluate(reference.cross(), erased.cross(), reference.self(),
                    erased.self());
            assertEquals(evaluation.loss(), gradient.loss(), 0.0, "loss");
            assertArrayEquals(new int[] {1, 16, 16, 77}, gradient.crossGradient().shape());
            assertArrayEquals(new int[] {1, 16, 16, 256}, gradient.selfGradient().shape());
            assertArrayEquals(toFloat(evaluation.crossErasedGradient()), gradient.crossGradient().toArray());
            assertArrayEquals(toFloat(evaluation.selfErasedGradient()), gradient.selfGradient().toArray());
            TensorAssertions.assertClose("grad_attn_erase", fixture.tensor("grad_attn_erase").reshape(1, 16, 16, 77),
                    gradient.crossGradient(), GRADIENT_PARITY);

            AttentionMaps wrongSize = new AttentionMaps(Tensor.zeros(1, 8, 8, 77), Tensor.zeros(1, 8, 8, 64),
                    Map.of());
            assertThrows(IllegalArgumentException.class, () -> objective.evaluate(wrongSize));
            AttentionMaps batchOfTwo = new AttentionMaps(Tensor.zeros(2, 16, 16, 77), Tensor.zeros(2, 16, 16, 256),
                    Map.of());
            assertThrows(IllegalArgumentException.class, () -> loss.objective(batchOfTwo));
        }
    }

    @Test
    void rejectsBadConfigurationsAndShapes() {
        assertThrows(IllegalArgumentException.class, () -> AttentionLoss.withReferenceSettings(1));
        assertThrows(IllegalArgumentException.class, () -> AttentionLoss.withReferenceSettings(78));
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> AttentionLoss.withReferenceSettings(6, 5));
        assertTrue(outside.getMessage().contains("1..4"), outside.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AttentionLoss.withReferenceSettings(6, 0));
        assertThrows(IllegalArgumentException.class, () -> AttentionLoss.withReferenceSettings(6, 4, 4));
        assertThrows(IllegalArgumentException.class, () -> new TokenMaskOptions(0, 0.95, 256));
        assertThrows(IllegalArgumentException.class, () -> new TokenMaskOptions(0.85, 1.5, 256));
        assertThrows(IllegalArgumentException.class, () -> new TokenMaskOptions(0.85, 0.95, 0));
        assertThrows(IllegalArgumentException.class, () -> new LossWeights(1, Double.NaN, 1, 1));

        AttentionLoss loss = AttentionLoss.withReferenceSettings(6, 4);
        // keys must reach token n-2 = 4.
        IllegalArgumentException fewKeys = assertThrows(IllegalArgumentException.class,
                () -> loss.evaluate(2, new double[16], new double[16], new double[16], new double[16]));
        assertTrue(fewKeys.getMessage().contains("keys >= n-1 = 5"), fewKeys.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> loss.evaluate(2, new double[20], new double[24], new double[16], new double[16]));
        assertThrows(IllegalArgumentException.class,
                () -> loss.evaluate(2, new double[20], new double[20], new double[15], new double[16]));
        assertThrows(IllegalArgumentException.class, () -> loss.evaluate(Tensor.zeros(2, 2, 5),
                Tensor.zeros(2, 2, 5), Tensor.zeros(2, 2, 4), Tensor.zeros(2, 2, 5)));
        assertThrows(IllegalArgumentException.class, () -> loss.evaluate(Tensor.zeros(2, 3, 5),
                Tensor.zeros(2, 3, 5), Tensor.zeros(2, 3, 6), Tensor.zeros(2, 3, 6)));
    }

    @Test
    void evaluationCopiesItsArrays() {
        RandomMaps maps = RandomMaps.create(new Random(352), 3, 5, 4);
        LossEvaluation evaluation = maps.evaluate(AttentionLoss.withReferenceSettings(4, 2));
        double[] masks = evaluation.masks();
        masks[0] = -1;
        assertTrue(evaluation.masks()[0] >= 0);
        double[] gradient = evaluation.selfErasedGradient();
        gradient[0] += 1;
        assertEquals(gradient[0] - 1, evaluation.selfErasedGradient()[0]);
    }

    @Test
    void aRectangularMapHasTheAnalyticGradientOfCentralDifferences() {
        Random random = new Random(351);
        int height = 3;
        int width = 5;
        int pixels = height * width;
        int n = 5;
        int keys = 6;
        double[][] arrays = {positive(random, pixels * keys), positive(random, pixels * keys),
            positive(random, pixels * pixels), positive(random, pixels * pixels)};
        AttentionLoss loss = new AttentionLoss(n, new int[] {2}, LossWeights.REFERENCE,
                new TokenMaskOptions(0.85, 0.95, 32));
        LossEvaluation evaluation = loss.evaluate(height, width, arrays[0], arrays[1], arrays[2], arrays[3]);
        assertEquals(height, evaluation.height());
        assertEquals(width, evaluation.width());
        assertEquals((n - 2) * pixels, evaluation.masks().length);
        assertThrows(IllegalStateException.class, evaluation::resolution);
        double[][] analytic = {evaluation.crossGradient(), evaluation.crossErasedGradient(),
            evaluation.selfGradient(), evaluation.selfErasedGradient()};
        String[] names = {"dL/dA", "dL/dÂ", "dL/dS", "dL/dŜ"};
        for (int which = 0; which < 4; which++) {
            double[] array = arrays[which];
            double[] numeric = new double[array.length];
            for (int i = 0; i < array.length; i++) {
                double saved = array[i];
                array[i] = saved + FINITE_DIFFERENCE_STEP;
                LossEvaluation plus = loss.evaluate(height, width, arrays[0], arrays[1], arrays[2], arrays[3]);
                array[i] = saved - FINITE_DIFFERENCE_STEP;
                LossEvaluation minus = loss.evaluate(height, width, arrays[0], arrays[1], arrays[2], arrays[3]);
                array[i] = saved;
                if (which == 0) {
                    assertArrayEquals(evaluation.masks(), plus.masks(), "masks moved at A[" + i + "]");
                }
                numeric[i] = (plus.loss() - minus.loss()) / (2 * FINITE_DIFFERENCE_STEP);
            }
            TensorAssertions.assertClose(names[which] + " of 3x5 maps", numeric, analytic[which],
                    FINITE_DIFFERENCES);
        }
    }

    @Test
    void transposingEveryMapLeavesTheLossAndTransposesTheMasks() {
        Random random = new Random(352);
        int height = 4;
        int width = 6;
        int pixels = height * width;
        int n = 6;
        int keys = 8;
        double[] cross = positive(random, pixels * keys);
        double[] crossErased = positive(random, pixels * keys);
        double[] self = positive(random, pixels * pixels);
        double[] selfErased = positive(random, pixels * pixels);
        AttentionLoss loss = AttentionLoss.withReferenceSettings(n, 3);
        LossEvaluation wide = loss.evaluate(height, width, cross, crossErased, self, selfErased);
        LossEvaluation tall = loss.evaluate(width, height, transposeCross(cross, height, width, keys),
                transposeCross(crossErased, height, width, keys), transposeSelf(self, height, width),
                transposeSelf(selfErased, height, width));
        assertEquals(wide.loss(), tall.loss(), PLAIN_VERSION * Math.abs(wide.loss()));
        assertArrayEquals(transposeCross(wide.masks(), n - 2, height, width, 1), tall.masks());
        // the same values read as the transposed size are a different image: not the same loss
        LossEvaluation misread = loss.evaluate(width, height, cross, crossErased, self, selfErased);
        assertTrue(Math.abs(misread.loss() - wide.loss()) > 1e-6 || !Arrays.equals(
                transposeCross(wide.masks(), n - 2, height, width, 1), misread.masks()),
                "reading 4x6 maps as 6x4 went unnoticed");
    }

    @Test
    void rectangularMapsWorkAsAnObjectiveAndMismatchedSidesAreRefused() {
        Random random = new Random(353);
        int n = 4;
        Tensor cross = Tensor.of(toFloat(positive(random, 2 * 3 * 77)), 1, 2, 3, 77);
        Tensor self = Tensor.of(toFloat(positive(random, 36)), 1, 2, 3, 6);
        AttentionLoss loss = AttentionLoss.withReferenceSettings(n, 1);
        AttentionObjective objective = loss.objective(new AttentionMaps(cross, self, Map.of()));
        ObjectiveGradient same = objective.evaluate(new AttentionMaps(cross, self, Map.of()));
        assertEquals(0.0, same.loss(), 1e-12, "identical branches");
        assertArrayEquals(new int[] {1, 2, 3, 77}, same.crossGradient().shape());
        assertArrayEquals(new int[] {1, 2, 3, 6}, same.selfGradient().shape());
        Tensor otherCross = Tensor.of(toFloat(positive(random, 2 * 3 * 77)), 1, 2, 3, 77);
        ObjectiveGradient other = objective.evaluate(new AttentionMaps(otherCross, self, Map.of()));
        LossEvaluation direct = loss.evaluate(2, 3, cross.toDoubleArray(), otherCross.toDoubleArray(),
                self.toDoubleArray(), self.toDoubleArray());
        assertEquals(direct.loss(), other.loss(), PLAIN_VERSION * Math.abs(direct.loss()));
        // the transposed maps are refused, not read as 2x3
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> objective.evaluate(
                new AttentionMaps(Tensor.of(cross.toArray(), 1, 3, 2, 77), Tensor.of(self.toArray(), 1, 3, 2, 6),
                        Map.of())));
        assertTrue(error.getMessage().contains("[1, 2, 3, 77]"), error.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new AttentionMaps(cross,
                Tensor.of(self.toArray(), 1, 3, 2, 6), Map.of()));
    }

    private static double[] positive(Random random, int size) {
        double[] values = new double[size];
        for (int i = 0; i < size; i++) {
            values[i] = 0.05 + random.nextDouble();
        }
        return values;
    }

    /** {@code [h, w, keys]} to {@code [w, h, keys]}. */
    private static double[] transposeCross(double[] maps, int height, int width, int keys) {
        return transposeCross(maps, 1, height, width, keys);
    }

    /** {@code [count, h, w, keys]} to {@code [count, w, h, keys]}. */
    private static double[] transposeCross(double[] maps, int count, int height, int width, int keys) {
        double[] out = new double[maps.length];
        for (int c = 0; c < count; c++) {
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    for (int k = 0; k < keys; k++) {
                        out[((c * width + x) * height + y) * keys + k] = maps[((c * height + y) * width + x) * keys + k];
                    }
                }
            }
        }
        return out;
    }

    /** {@code [h, w, h*w]} to {@code [w, h, w*h]}: query and key pixels both transposed. */
    private static double[] transposeSelf(double[] maps, int height, int width) {
        int pixels = height * width;
        double[] out = new double[maps.length];
        for (int q = 0; q < pixels; q++) {
            int qt = (q % width) * height + q / width;
            for (int k = 0; k < pixels; k++) {
                int kt = (k % width) * height + k / width;
                out[qt * pixels + kt] = maps[q * pixels + k];
            }
        }
        return out;
    }

    /** Random positive maps (like softmax probabilities) with columns of distinct shapes. */
    private static final class RandomMaps {
        final int res;
        final double[] cross;
        final double[] crossErased;
        final double[] self;
        final double[] selfErased;

        private RandomMaps(int res, double[] cross, double[] crossErased, double[] self, double[] selfErased) {
            this.res = res;
            this.cross = cross;
            this.crossErased = crossErased;
            this.self = self;
            this.selfErased = selfErased;
        }

        static RandomMaps create(Random random, int res, int keys, int n) {
            int pixels = res * res;
            if (keys < n - 1) {
                throw new AssertionError("keys " + keys + " < n-1");
            }
            return new RandomMaps(res, positive(random, pixels * keys), positive(random, pixels * keys),
                    positive(random, pixels * pixels), positive(random, pixels * pixels));
        }

        private static double[] positive(Random random, int size) {
            double[] values = new double[size];
            for (int i = 0; i < size; i++) {
                values[i] = 0.05 + random.nextDouble();
            }
            return values;
        }

        LossEvaluation evaluate(AttentionLoss loss) {
            return loss.evaluate(res, cross, crossErased, self, selfErased);
        }
    }

    /** The four parts straight from the reference's loops: per token, per selected pixel, a fresh cosine. */
    private static LossParts plainParts(RandomMaps maps, int n, int[] negatives, double[] masks) {
        int pixels = maps.res * maps.res;
        int keys = maps.cross.length / pixels;
        double retain = 0;
        double erase = 0;
        double selfRetain = 0;
        double selfErase = 0;
        for (int token = 1; token <= n - 2; token++) {
            boolean negative = contains(negatives, token);
            double cross = 1 - cosine(maps.cross, maps.crossErased, keys, token, pixels);
            if (negative) {
                erase += cross;
            } else {
                retain += cross;
            }
            for (int j = 0; j < pixels; j++) {
                if (masks[(token - 1) * pixels + j] > 0) {
                    double self = 1 - cosine(maps.self, maps.selfErased, pixels, j, pixels);
                    if (negative) {
                        selfErase += self;
                    } else {
                        selfRetain += self;
                    }
                }
            }
        }
        return new LossParts(retain, erase, selfRetain, selfErase);
    }

    /** torch 1.13 cosine_similarity of column {@code column} of two [rows, columns] matrices. */
    private static double cosine(double[] x, double[] y, int columns, int column, int rows) {
        double dot = 0;
        for (int r = 0; r < rows; r++) {
            dot += x[r * columns + column] * y[r * columns + column];
        }
        double normX = Math.max(columnNorm(x, columns, column, rows), ColumnCosines.EPS);
        double normY = Math.max(columnNorm(y, columns, column, rows), ColumnCosines.EPS);
        return dot / (normX * normY);
    }

    private static double columnNorm(double[] x, int columns, int column, int rows) {
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            sum += x[r * columns + column] * x[r * columns + column];
        }
        return Math.sqrt(sum);
    }

    private static double selfWeight(double[] masks, int pixel, int pixels, int n, int negative) {
        double weight = 0;
        for (int token = 1; token <= n - 2; token++) {
            if (masks[(token - 1) * pixels + pixel] > 0) {
                weight += token == negative ? LossWeights.REFERENCE.selfErase() : LossWeights.REFERENCE.selfRetain();
            }
        }
        return weight;
    }

    private static int firstSelected(double[] masks, int maskIndex, int pixels) {
        for (int p = 0; p < pixels; p++) {
            if (masks[maskIndex * pixels + p] > 0) {
                return p;
            }
        }
        throw new AssertionError("mask " + maskIndex + " selects nothing");
    }

    private static boolean contains(int[] values, int value) {
        for (int v : values) {
            if (v == value) {
                return true;
            }
        }
        return false;
    }

    private static double[] scaled(double[] values, double factor) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i] * factor;
        }
        return out;
    }

    private static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.path(i).asInt();
        }
        return out;
    }
}
