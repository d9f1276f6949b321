package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.weights.WeightLoader;

/**
 * {@code torch.nn.Linear}: {@code y = x W^T + b} over the last axis. {@code W} is kept as stored,
 * {@code [out, in]}: libtorch's linear takes it untransposed, so no transpose is made per call.
 */
public final class Linear {

    private final NDArray weight;
    private final NDArray bias;

    /**
     * @param prefix  the module key, e.g. {@code time_embedding.linear_1}; loads {@code prefix.weight} and, when
     *                {@code hasBias}, {@code prefix.bias}
     */
    public Linear(WeightLoader loader, String prefix, int inFeatures, int outFeatures, boolean hasBias) {
        this.weight = loader.load(prefix + ".weight", outFeatures, inFeatures);
        this.bias = hasBias ? loader.load(prefix + ".bias", outFeatures) : null;
    }

    /**
     * @param x {@code [..., in]}; not modified
     * @return {@code [..., out]} in {@code x}'s manager
     */
    public NDArray forward(NDArray x) {
        NDArray out = ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
        // out elements x in
        Arithmetic.multiplyAdds(out.getShape().size() * weight.getShape().get(1));
        return out;
    }
}
