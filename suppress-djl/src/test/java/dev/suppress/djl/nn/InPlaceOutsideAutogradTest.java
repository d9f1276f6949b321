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
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link GroupNorm}'s affine step and {@link Activations#silu} write in place when autograd is off (to save one
 * activation-sized array at the VAE decoder's top level) and allocate when it is on, because autograd saves the
 * arrays they would overwrite. Both paths must give the same bits, leave their inputs alone, and the recorded path
 * must still differentiate correctly.
 */
class InPlaceOutsideAutogradTest {

    private static final int CHANNELS = 8;
    private static final int GROUPS = 4;
    private static final int SIDE = 6;
    /** A central difference of a smooth function in float32 with step 1e-2: measured error about 1e-4. */
    private static final double GRADIENT_TOLERANCE = 2e-2;

    @TempDir
    Path dir;

    @Test
    void inPlaceAndRecordedPathsAgreeAndTheRecordedOneDifferentiates() {
        Random random = new Random(5);
        Path file = dir.resolve("norm.safetensors");
        SafetensorsWriter.write(file, Map.of("norm.weight", Conv2dGradientTest.gaussian(random, 1f, CHANNELS),
                "norm.bias", Conv2dGradientTest.gaussian(random, 1f, CHANNELS)));
        try (NDManager manager = TorchRuntime.newManager(Device.cpu());
             WeightLoader loader = WeightLoader.open(file, manager)) {
            GroupNorm norm = new GroupNorm(loader, "norm", GROUPS, CHANNELS, 1e-6);
            loader.finish("norm", List.of());
            try (NDManager scope = manager.newSubManager()) {
                float[] input = Conv2dGradientTest.gaussian(random, 2f, 1, CHANNELS, SIDE, SIDE).toArray();
                NDArray x = Tensors.toNDArray(scope, Tensor.of(input, 1, CHANNELS, SIDE, SIDE));
                float[] outside = Activations.silu(norm.forward(x)).toFloatArray();
                assertArrayEquals(input, x.toFloatArray(), "the input must not be overwritten");

                NDArray direction = Tensors.toNDArray(scope, Conv2dGradientTest.gaussian(random, 1f, 1, CHANNELS, SIDE, SIDE));
                float[] recorded;
                double analytic;
                try (GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
                    NDArray leaf = x.duplicate();
                    leaf.setRequiresGradient(true);
                    NDArray y = Activations.silu(norm.forward(leaf));
                    recorded = y.toFloatArray();
                    collector.backward(y.mul(y).sum());
                    analytic = leaf.getGradient().mul(direction).sum().getFloat();
                }
                assertArrayEquals(outside, recorded, 0f, "in place and recorded must compute the same bits");

                float step = 1e-2f;
                double plus = squaredSum(norm, x.add(direction.mul(step)));
                double minus = squaredSum(norm, x.sub(direction.mul(step)));
                double numeric = (plus - minus) / (2 * step);
                assertEquals(numeric, analytic, GRADIENT_TOLERANCE * Math.abs(numeric),
                        "directional derivative through GroupNorm and SiLU");
            }
        }
    }

    private static double squaredSum(GroupNorm norm, NDArray x) {
        double sum = 0;
        for (float value : Activations.silu(norm.forward(x)).toFloatArray()) {
            sum += (double) value * value;
        }
        return sum;
    }
}
