package dev.suppress.djl.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.weights.WeightLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The input gradient of {@link Conv2d} against a central difference, for the output channel counts that libtorch
 * 2.7.1's oneDNN convolution backward got wrong on an AMD EPYC with AVX-512 (see {@link Conv2d}): measured there
 * before the fix, autograd gave -189.2 against -8.45 for 4 channels, and NaN for some counts in every run.
 */
class Conv2dGradientTest {

    /** In channels x side x side = 32768, above the 20480 input values from which libtorch calls oneDNN. */
    private static final int IN_CHANNELS = 32;
    private static final int SIDE = 32;
    /** The affected counts measured (1-15, 17, 20, 24, 28, 40) and 16, 32, 48 that never were. */
    private static final int[] OUT_CHANNELS = {1, 3, 4, 8, 12, 15, 16, 20, 32, 40, 48};
    /**
     * A convolution is linear in its input, so the central difference is exact but for float32 rounding: measured
     * relative error at most 8e-6 with the fix, 1e-2 to 20 (or NaN) without.
     */
    private static final double RELATIVE_TOLERANCE = 1e-4;
    /** The padded path computes the same sums in another kernel: measured bit-identical, another CPU may round. */
    private static final float FORWARD_TOLERANCE = 1e-4f;

    @TempDir
    Path dir;

    @Test
    void inputGradientMatchesCentralDifferences() {
        Random random = new Random(23);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (int out : OUT_CHANNELS) {
            tensors.put("conv" + out + ".weight", gaussian(random, 0.1f, out, IN_CHANNELS, 3, 3));
            tensors.put("conv" + out + ".bias", gaussian(random, 0.1f, out));
        }
        Path file = dir.resolve("convs.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (NDManager manager = TorchRuntime.newManager(Device.cpu());
             WeightLoader loader = WeightLoader.open(file, manager)) {
            for (int out : OUT_CHANNELS) {
                Conv2d conv = new Conv2d(loader, "conv" + out, IN_CHANNELS, out, 3, 1, 1);
                try (NDManager scope = manager.newSubManager()) {
                    checkGradient(scope, conv, out, random);
                }
            }
            loader.finish("convolutions", List.of());
        }
    }

    private static void checkGradient(NDManager scope, Conv2d conv, int out, Random random) {
        NDArray x = Tensors.toNDArray(scope, gaussian(random, 1f, 1, IN_CHANNELS, SIDE, SIDE));
        NDArray direction = Tensors.toNDArray(scope, gaussian(random, 1f, 1, IN_CHANNELS, SIDE, SIDE));
        NDArray upstream = Tensors.toNDArray(scope, gaussian(random, 1f, 1, out, SIDE, SIDE));
        double analytic;
        float[] recordedForward;
        try (GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
            NDArray leaf = x.duplicate();
            leaf.setRequiresGradient(true);
            NDArray y = conv.forward(leaf);
            recordedForward = y.toFloatArray();
            collector.backward(y.mul(upstream).sum());
            analytic = leaf.getGradient().mul(direction).sum().getFloat();
        }
        assertArrayEquals(conv.forward(x).toFloatArray(), recordedForward, FORWARD_TOLERANCE,
                out + " channels: forward pass under autograd");
        double plus = conv.forward(x.add(direction)).mul(upstream).sum().getFloat();
        double minus = conv.forward(x.sub(direction)).mul(upstream).sum().getFloat();
        double numeric = (plus - minus) / 2;
        assertEquals(numeric, analytic, RELATIVE_TOLERANCE * Math.abs(numeric),
                out + " output channels: directional derivative of the input gradient");
    }

    /** Seeded normal values times {@code scale} (also used by {@link InPlaceOutsideAutogradTest}). */
    static Tensor gaussian(Random random, float scale, int... shape) {
        int size = 1;
        for (int dim : shape) {
            size *= dim;
        }
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = scale * (float) random.nextGaussian();
        }
        return Tensor.wrapOwned(values, shape);
    }
}
