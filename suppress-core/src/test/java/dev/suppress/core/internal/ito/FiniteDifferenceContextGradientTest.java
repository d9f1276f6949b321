package dev.suppress.core.internal.ito;

import dev.suppress.core.ito.FiniteDifferenceOptions;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Finite differences on a linear stand-in, where central differences are exact: the estimate must be the exact
 * gradient projected on the directions.
 */
class FiniteDifferenceContextGradientTest {

    private static final int WIDTH = 6;
    private static final int PROMPT_LENGTH = 5;
    private static final int[] NEGATIVES = {2};
    private static final AttentionCapture CAPTURE = AttentionCapture.reference(1, HeadAveraging.ALL_HEADS);
    /** Central differences of a linear function are exact up to float32 rounding of the perturbed contexts. */
    private static final double LINEAR_EXACTNESS = 1e-3;

    /** Cross "maps" are the context itself (77 keys x WIDTH pixels flattened); the loss is linear in them. */
    private static final class LinearDenoiser implements DenoiserWithAttention {
        final List<Integer> batchSizes = new ArrayList<>();

        @Override
        public UNetDescription description() {
            throw new UnsupportedOperationException();
        }

        @Override
        public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
            throw new UnsupportedOperationException("finite differences only need attention()");
        }

        @Override
        public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
            int batch = contexts.dim(0);
            batchSizes.add(batch);
            // [batch, 77, W] -> cross [batch, 1, 1, 77*W], self [batch, 1, 1, 1]
            return new AttentionMaps(contexts.reshape(batch, 1, 1, 77 * WIDTH), Tensor.zeros(batch, 1, 1, 1),
                    Map.of());
        }

        @Override
        public void close() {
        }
    }

    private static float[] weights() {
        Random random = new Random(5);
        float[] weights = new float[77 * WIDTH];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        return weights;
    }

    private static Tensor context() {
        Random random = new Random(6);
        float[] values = new float[77 * WIDTH];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (3 * random.nextGaussian());
        }
        return Tensor.wrapOwned(values, 77, WIDTH);
    }

    private static ProbeResult estimate(FiniteDifferenceContextGradient gradient, float[] weights, Tensor context) {
        return gradient.evaluate(Tensor.zeros(1, 4, 2, 2), 500, context, CAPTURE, maps -> {
            double loss = 0;
            for (int i = 0; i < weights.length; i++) {
                loss += weights[i] * maps.cross().get(i);
            }
            return new ObjectiveGradient(loss, Tensor.zeros(maps.cross().shape()), Tensor.zeros(1, 1, 1, 1));
        });
    }

    @Test
    void estimatesTheGradientProjectedOnTheDirections() {
        for (FiniteDifferenceOptions.Subspace subspace : FiniteDifferenceOptions.Subspace.values()) {
            FiniteDifferenceOptions options = new FiniteDifferenceOptions(subspace, 3, 1e-2, 1);
            float[] weights = weights();
            Tensor context = context();
            float[][] directions = new FiniteDifferenceContextGradient(new LinearDenoiser(), options, PROMPT_LENGTH,
                    NEGATIVES, 7).directions(context);
            ProbeResult result = estimate(new FiniteDifferenceContextGradient(new LinearDenoiser(), options,
                    PROMPT_LENGTH, NEGATIVES, 7), weights, context);
            float[] projected = new float[weights.length];
            for (float[] direction : directions) {
                double dot = 0;
                for (int i = 0; i < weights.length; i++) {
                    dot += weights[i] * direction[i];
                }
                for (int i = 0; i < weights.length; i++) {
                    projected[i] += (float) (dot * direction[i]);
                }
            }
            float[] estimate = result.contextGradient().toArray();
            for (int i = 0; i < estimate.length; i++) {
                assertEquals(projected[i], estimate[i], LINEAR_EXACTNESS, subspace + " element " + i);
            }
            double loss = 0;
            for (int i = 0; i < weights.length; i++) {
                loss += weights[i] * context.get(i);
            }
            assertEquals(loss, result.loss(), 1e-9 * Math.abs(loss) + 1e-9, "the loss at c itself");
        }
    }

    @Test
    void directionsAreOrthonormalAndStayOnTheirRows() {
        Tensor context = context();
        for (FiniteDifferenceOptions.Subspace subspace : FiniteDifferenceOptions.Subspace.values()) {
            FiniteDifferenceContextGradient gradient = new FiniteDifferenceContextGradient(new LinearDenoiser(),
                    new FiniteDifferenceOptions(subspace, 4, 1e-2, 2), PROMPT_LENGTH, NEGATIVES, 9);
            int[] rows = subspace == FiniteDifferenceOptions.Subspace.PROMPT_ROWS ? new int[] {0, 1, 2, 3}
                    : SoftWeightedRegularization.regularizedRows(NEGATIVES, PROMPT_LENGTH);
            assertEquals(java.util.Arrays.toString(rows), java.util.Arrays.toString(gradient.rows()));
            boolean[] allowed = new boolean[77];
            for (int row : rows) {
                allowed[row] = true;
            }
            float[][] directions = gradient.directions(context);
            assertEquals(4, directions.length);
            for (int a = 0; a < directions.length; a++) {
                for (int b = 0; b < directions.length; b++) {
                    double dot = 0;
                    for (int i = 0; i < directions[a].length; i++) {
                        dot += directions[a][i] * directions[b][i];
                    }
                    assertEquals(a == b ? 1.0 : 0.0, dot, 1e-5, subspace + " directions " + a + ", " + b);
                }
                for (int i = 0; i < directions[a].length; i++) {
                    if (!allowed[i / WIDTH]) {
                        assertEquals(0f, directions[a][i], subspace + " touches row " + i / WIDTH);
                    }
                }
            }
        }
    }

    @Test
    void costsTwoPassesPerDirectionPlusOneInBatchesOfAtMostMaxBatch() {
        LinearDenoiser denoiser = new LinearDenoiser();
        estimate(new FiniteDifferenceContextGradient(denoiser, new FiniteDifferenceOptions(
                FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 4, 1e-2, 3), PROMPT_LENGTH, NEGATIVES, 4), weights(),
                context());
        assertEquals(List.of(4, 4, 1), denoiser.batchSizes);
    }

    @Test
    void rejectsBadOptions() {
        assertThrows(IllegalArgumentException.class, () -> new FiniteDifferenceOptions(
                FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 0, 1e-2, 0));
        assertThrows(IllegalArgumentException.class, () -> new FiniteDifferenceOptions(
                FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 4, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new FiniteDifferenceContextGradient(new LinearDenoiser(),
                FiniteDifferenceOptions.DEFAULT, PROMPT_LENGTH, NEGATIVES, 0));
    }
}
