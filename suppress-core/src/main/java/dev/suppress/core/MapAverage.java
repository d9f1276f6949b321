package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

/** A running sum of one branch's cross-attention maps, for display. */
final class MapAverage {
    private final int resolution;
    private float[] sum;
    private int count;

    MapAverage(int resolution) {
        this.resolution = resolution;
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
            return Tensor.zeros(resolution, resolution, 77);
        }
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) {
            mean[i] = sum[i] / count;
        }
        return Tensor.wrapOwned(mean, resolution, resolution, sum.length / (resolution * resolution));
    }
}
