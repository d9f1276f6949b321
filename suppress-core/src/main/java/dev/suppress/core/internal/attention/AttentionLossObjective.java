package dev.suppress.core.internal.attention;

import dev.suppress.core.attention.AttentionMaps;

import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;

/**
 * {@link AttentionLoss} against fixed reference maps, as a gradient probe's objective (ALGORITHM.md §4 step 2: the
 * reference maps come from one pass on the original branch, the erased maps from each ITO iteration). The masks
 * depend on the reference maps only, so they are computed once, here.
 */
final class AttentionLossObjective implements AttentionObjective {

    private final AttentionLoss loss;
    private final int height;
    private final int width;
    private final int keys;
    private final double[] cross;
    private final double[] self;
    private final double[] masks;

    /** Takes ownership of the arrays. */
    AttentionLossObjective(AttentionLoss loss, int height, int width, int keys, double[] cross, double[] self,
                           double[] masks) {
        this.loss = loss;
        this.height = height;
        this.width = width;
        this.keys = keys;
        this.cross = cross;
        this.self = self;
        this.masks = masks;
    }

    /**
     * @param maps the erased branch's maps, batch 1, with the reference maps' height, width and keys
     * @return the loss, {@code dL/dÂ} {@code [1, h, w, keys]} and {@code dL/dŜ} {@code [1, h, w, h*w]}
     *         (float64 inside, rounded to float32)
     */
    @Override
    public ObjectiveGradient evaluate(AttentionMaps maps) {
        int pixels = height * width;
        if (maps.batchSize() != 1 || !Arrays.equals(maps.cross().shape(), new int[] {1, height, width, keys})
                || !Arrays.equals(maps.self().shape(), new int[] {1, height, width, pixels})) {
            throw new IllegalArgumentException("Maps of shapes " + Arrays.toString(maps.cross().shape()) + " and "
                    + Arrays.toString(maps.self().shape()) + " do not match the reference maps [1, " + height
                    + ", " + width + ", " + keys + "] and [1, " + height + ", " + width + ", " + pixels + "]");
        }
        double[] crossErased = maps.cross().toDoubleArray();
        double[] selfErased = maps.self().toDoubleArray();
        AttentionLoss.Terms terms = loss.compute(pixels, keys, cross, crossErased, self, selfErased, masks,
                false);
        return new ObjectiveGradient(terms.loss,
                Tensor.wrapOwned(toFloat(terms.crossErasedGradient), 1, height, width, keys),
                Tensor.wrapOwned(toFloat(terms.selfErasedGradient), 1, height, width, pixels));
    }

    private static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }
}
