package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

/** A running sum of one branch's cross-attention maps, for display. */
final class MapAverage {
    private final int height;
    private final int width;
    private float[] sum;
    private int count;

    /** For maps {@code height x width}. */
    MapAverage(int height, int width) {
        this.height = height;
        this.width = width;
    }

    void add(float[] cross, int element, int perElement) {
        if (sum == null) {
            sum = new float[perElement];
        }
        for (int i = 0; i < perElement; i++) {
            sum[i] += cross[element * perElement + i];
        }
        count++;
    }

    Tensor mean() {
        if (sum == null) {
            return Tensor.zeros(height, width, 77);
        }
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) {
            mean[i] = sum[i] / count;
        }
        return Tensor.wrapOwned(mean, height, width, sum.length / (height * width));
    }
}
