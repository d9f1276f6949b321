package dev.suppress.djl.unet;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import dev.suppress.djl.nn.TorchRuntime;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * Attention slicing computes every head as the unsliced product does: the outputs and the gradients reaching Q, K
 * and V are the same floats, whatever the slice (one head, several, a last slice shorter than the others).
 */
class AttentionSlicingTest {

    private static final int HEADS = 10;
    private static final int PIXELS = 48;
    private static final int KEYS = 40;
    private static final int DIM = 8;

    @Test
    void slicedAttentionGivesTheUnslicedOutputAndGradientsExactly() {
        try (NDManager manager = TorchRuntime.newManager(Device.cpu())) {
            manager.getEngine().setRandomSeed(5);
            NDArray query = manager.randomNormal(new Shape(HEADS, PIXELS, DIM));
            NDArray key = manager.randomNormal(new Shape(HEADS, KEYS, DIM));
            NDArray value = manager.randomNormal(new Shape(HEADS, KEYS, DIM));
            NDArray weights = manager.randomNormal(new Shape(HEADS, PIXELS, DIM));
            float[][] whole = run(query, key, value, weights, Long.MAX_VALUE);
            long perHead = (long) PIXELS * KEYS;
            for (long slice : new long[] {perHead, 3 * perHead, 3 * perHead + 7, perHead / 2}) {
                float[][] sliced = run(query, key, value, weights, slice);
                for (int i = 0; i < whole.length; i++) {
                    assertArrayEquals(whole[i], sliced[i], 0f, "slice of " + slice + " values, output " + i);
                }
            }
        }
    }

    /** The attention output and the gradients of {@code sum(output * weights)} at Q, K and V. */
    private static float[][] run(NDArray query, NDArray key, NDArray value, NDArray weights, long sliceElements) {
        try (NDManager scope = query.getManager().newSubManager()) {
            NDArray q = query.duplicate();
            NDArray k = key.duplicate();
            NDArray v = value.duplicate();
            q.attach(scope);
            k.attach(scope);
            v.attach(scope);
            q.setRequiresGradient(true);
            k.setRequiresGradient(true);
            v.setRequiresGradient(true);
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray out = Attention.attend(q, k, v, sliceElements);
                collector.backward(out.mul(weights).sum());
                return new float[][] {out.toFloatArray(), q.getGradient().toFloatArray(),
                        k.getGradient().toFloatArray(), v.getGradient().toFloatArray()};
            }
        }
    }
}
