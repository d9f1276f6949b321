package dev.suppress.djl.unet;

import ai.djl.Device;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.GradientCollector;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.nn.TorchRuntime;
import dev.suppress.djl.unet.AttentionRecorder.AfterLastNeeded;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The autograd probe against central finite differences of the same objective on the tiny model, and its
 * independence between calls.
 */
class DjlGradientProbeTest {

    /**
     * Step of the central differences along a unit-norm direction over all 77x80 entries (about 6e-3 per entry, the
     * entries being O(1)): large enough that float32 noise in the objective (~3e-5) stays small once divided by
     * 2*STEP, small enough that the O(STEP^2) truncation error is below 1e-3 relative (measured: 7e-4 at most).
     */
    private static final double STEP = 0.5;
    /** Relative agreement of the directional derivatives, from the measured finite-difference error above. */
    private static final double DIRECTIONAL_DERIVATIVE_RTOL = 3e-3;
    private static final int DIRECTIONS = 3;
    /** The probe's maps come from the same kernels as attention(): identical values. */
    private static final Tolerance SAME_COMPUTATION = new Tolerance(0, 0, "the same operations on the same shapes");

    private static DjlDenoiser denoiser;
    private static DjlGradientProbe probe;
    private static Tensor latent;
    private static Tensor context;

    @BeforeAll
    static void open() {
        denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                UNetDescription.PredictionType.EPSILON);
        probe = new DjlGradientProbe(denoiser);
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors")) {
            latent = golden.tensor("latent");
            context = golden.tensor("encoder_hidden_states").reshape(77, 80);
        }
    }

    @AfterAll
    static void close() {
        denoiser.close();
    }

    private static AttentionCapture capture() {
        return AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
    }

    /** {@code L = sum(w_cross * cross) + sum(w_self * self)} with fixed seeded weights: {@code dL/dmaps = w}. */
    private record WeightedSum(Tensor crossWeights, Tensor selfWeights) implements AttentionObjective {

        static WeightedSum seeded(long seed) {
            Random random = new Random(seed);
            return new WeightedSum(gaussian(random, 1, 16, 16, 77), gaussian(random, 1, 16, 16, 256));
        }

        double value(AttentionMaps maps) {
            return dot(crossWeights, maps.cross()) + dot(selfWeights, maps.self());
        }

        @Override
        public ObjectiveGradient evaluate(AttentionMaps maps) {
            return new ObjectiveGradient(value(maps), crossWeights, selfWeights);
        }
    }

    @Test
    void gradientMatchesCentralDifferencesAlongRandomDirections() {
        WeightedSum objective = WeightedSum.seeded(345);
        ProbeResult result = probe.probe(latent, 981, context, capture(), objective);
        assertArrayEquals(new int[] {77, 80}, result.contextGradient().shape());
        Random random = new Random(2023);
        for (int k = 0; k < DIRECTIONS; k++) {
            Tensor direction = unit(gaussian(random, 77, 80));
            double analytic = dot(result.contextGradient(), direction);
            double plus = objective.value(denoiser.attention(latent, 981, shifted(context, direction, STEP),
                    capture()));
            double minus = objective.value(denoiser.attention(latent, 981, shifted(context, direction, -STEP),
                    capture()));
            double numeric = (plus - minus) / (2 * STEP);
            assertTrue(Math.abs(numeric - analytic) <= DIRECTIONAL_DERIVATIVE_RTOL * Math.abs(numeric),
                    "direction " + k + ": autograd " + analytic + ", central differences " + numeric);
        }
    }

    @Test
    void repeatedProbesGiveIdenticalGradients() {
        WeightedSum objective = WeightedSum.seeded(7);
        ProbeResult first = probe.probe(latent, 501, context, capture(), objective);
        ProbeResult second = probe.probe(latent, 501, context, capture(), objective);
        assertEquals(first.contextGradient(), second.contextGradient(),
                "a second probe must not accumulate onto the first one's gradient");
        assertEquals(first.loss(), second.loss());
    }

    @Test
    void gradientIsUnaffectedByGarbageCollectionBetweenForwardAndBackward() {
        WeightedSum objective = WeightedSum.seeded(11);
        ProbeResult quiet = probe.probe(latent, 981, context, capture(), objective);
        // native memory that a finished Java-side temporary owned is freed by the collector: the backward pass
        // must not depend on any of it (DJL's Number overloads would; see Tensors.scalar)
        AttentionObjective collecting = maps -> {
            for (int i = 0; i < 3; i++) {
                System.gc();
                byte[][] churn = new byte[64][];
                for (int j = 0; j < churn.length; j++) {
                    churn[j] = new byte[1 << 16];
                }
            }
            return objective.evaluate(maps);
        };
        ProbeResult collected = probe.probe(latent, 981, context, capture(), collecting);
        assertEquals(quiet.contextGradient(), collected.contextGradient());
    }

    @Test
    void probeSeesTheMapsThatAttentionReturns() {
        ProbeResult result = probe.probe(latent, 981, context, capture(), WeightedSum.seeded(1));
        AttentionMaps maps = denoiser.attention(latent, 981, context.reshape(1, 77, 80), capture());
        TensorAssertions.assertClose("cross maps", maps.cross(), result.maps().cross(), SAME_COMPUTATION);
        TensorAssertions.assertClose("self maps", maps.self(), result.maps().self(), SAME_COMPUTATION);
        assertEquals(WeightedSum.seeded(1).value(maps), result.loss(), 0.0);
    }

    @Test
    void fullProbeGivesTheGradientOfTheTruncatedOne() {
        // the blocks after the last captured layer (the tiny model's 32x32 up block) cannot reach the maps
        WeightedSum objective = WeightedSum.seeded(29);
        ProbeResult full = probe.probe(latent, 981, context, capture(), objective, ForwardExtent.FULL);
        ProbeResult truncated = probe.probe(latent, 981, context, capture(), objective,
                ForwardExtent.THROUGH_CAPTURED_LAYERS);
        assertEquals(truncated.contextGradient(), full.contextGradient());
        assertEquals(truncated.loss(), full.loss());
        assertEquals(truncated.maps().cross(), full.maps().cross());
        assertEquals(truncated.maps().self(), full.maps().self());
    }

    @Test
    void fullPassAfterTheLastCapturedLayerRecordsNoGradientAndKeepsTheMapsGradient() {
        WeightedSum objective = WeightedSum.seeded(31);
        Tensor recorded = mapsGradient(AfterLastNeeded.CONTINUE, objective);
        Tensor cut = mapsGradient(AfterLastNeeded.CONTINUE_WITHOUT_GRADIENT, objective);
        assertEquals(recorded, cut, "the gradient through the maps must not change when the later blocks record "
                + "nothing");
        assertFalse(cut.equals(Tensor.zeros(77, 80)), "the maps' gradient must reach the context");
        // the noise prediction comes after the last captured layer: in the graph only with recording on throughout
        String recordedNoise = noiseBackward(AfterLastNeeded.CONTINUE);
        String cutNoise = noiseBackward(AfterLastNeeded.CONTINUE_WITHOUT_GRADIENT);
        assertEquals("reached the context", recordedNoise);
        assertTrue(cutNoise.contains("does not require grad"),
                "the up block after the last captured layer must run with autograd's recording off: " + cutNoise);
    }

    /** The probe's pass and backward by hand, with its recorder set to {@code afterLastNeeded}. */
    private static Tensor mapsGradient(AfterLastNeeded afterLastNeeded, WeightedSum objective) {
        UNet2DConditionModel model = denoiser.model();
        try (NDManager scope = model.newScope();
             GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
            NDArray leaf = Tensors.toNDArray(scope, context);
            leaf.setRequiresGradient(true);
            AttentionRecorder recorder = denoiser.recorder(capture(), latent, afterLastNeeded, scope);
            NDArray noise = model.forward(Tensors.toNDArray(scope, latent), 981, leaf.expandDims(0), recorder);
            assertNotNull(noise, "a full pass returns the noise prediction");
            assertTrue(JniUtils.isGradMode(), "forward() must give the collector its grad mode back");
            NDArray target = recorder.crossMaps().mul(Tensors.toNDArray(scope, objective.crossWeights())).sum()
                    .add(recorder.selfMaps().mul(Tensors.toNDArray(scope, objective.selfWeights())).sum());
            collector.backward(target);
            return Tensors.toTensor(leaf.getGradient());
        }
    }

    /** A full pass, then a backward pass from the noise prediction: what libtorch made of it. */
    private static String noiseBackward(AfterLastNeeded afterLastNeeded) {
        UNet2DConditionModel model = denoiser.model();
        try (NDManager scope = model.newScope();
             GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
            NDArray leaf = Tensors.toNDArray(scope, context);
            leaf.setRequiresGradient(true);
            AttentionRecorder recorder = denoiser.recorder(capture(), latent, afterLastNeeded, scope);
            NDArray noise = model.forward(Tensors.toNDArray(scope, latent), 981, leaf.expandDims(0), recorder);
            try {
                collector.backward(noise.sum());
            } catch (EngineException e) {
                return e.getMessage();
            }
            return leaf.getGradient().abs().sum().getFloat() > 0 ? "reached the context" : "a zero gradient";
        }
    }

    @Test
    void mapsComputedBeforeAnyCrossAttentionHaveAZeroGradient() {
        // down_self_0 (the first layer, 32x32) runs before the context enters the UNet
        AttentionCapture firstSelfLayer = new AttentionCapture(32, Set.of(), EnumSet.of(UNetPlace.DOWN),
                HeadAveraging.ALL_HEADS, Set.of());
        ProbeResult result = probe.probe(latent, 981, context, firstSelfLayer,
                maps -> new ObjectiveGradient(1.0, maps.cross(), maps.self()));
        assertEquals(Tensor.zeros(77, 80), result.contextGradient());
        assertArrayEquals(new int[] {1, 32, 32, 0}, result.maps().cross().shape());
    }

    @Test
    void rejectsAnObjectiveGradientOfTheWrongShape() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> probe.probe(latent, 981, context, capture(),
                        maps -> new ObjectiveGradient(0, Tensor.zeros(16, 16, 77), maps.self())));
        assertEquals("The objective's cross gradient has shape [16, 16, 77], expected [1, 16, 16, 77]",
                error.getMessage());
    }

    /** Seeded standard normal values (also used by {@link UNetBatchSplitTest}). */
    static Tensor gaussian(Random random, int... shape) {
        Tensor sized = Tensor.zeros(shape);
        float[] values = new float[sized.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.wrapOwned(values, shape);
    }

    private static Tensor unit(Tensor tensor) {
        double norm = Math.sqrt(dot(tensor, tensor));
        float[] values = tensor.toArray();
        for (int i = 0; i < values.length; i++) {
            values[i] /= (float) norm;
        }
        return Tensor.wrapOwned(values, tensor.shape());
    }

    private static Tensor shifted(Tensor base, Tensor direction, double step) {
        float[] values = base.toArray();
        for (int i = 0; i < values.length; i++) {
            values[i] += (float) (step * direction.get(i));
        }
        return Tensor.wrapOwned(values, 1, base.dim(0), base.dim(1));
    }

    private static double dot(Tensor a, Tensor b) {
        double sum = 0;
        for (int i = 0; i < a.size(); i++) {
            sum += (double) a.get(i) * b.get(i);
        }
        return sum;
    }
}
