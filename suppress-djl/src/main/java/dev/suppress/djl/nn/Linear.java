package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.weights.WeightLoader;

/**
 * {@code torch.nn.Linear}: {@code y = x W^T + b} over the last axis. {@code W} is kept as stored,
 * {@code [out, in]}: libtorch's linear takes it untransposed, so no transpose is made per call. In a part loaded in
 * bfloat16 ({@link WeightLoader#matmulType}) {@code W} and {@code b} are held in bfloat16 and the product runs
 * through {@link Bf16Kernels}.
 */
public final class Linear {

    private final NDArray weight;
    private final NDArray bias;
    /** Null in float32 and float16. */
    private final Bf16Kernels bf16;

    /**
     * @param prefix  the module key, e.g. {@code time_embedding.linear_1}; loads {@code prefix.weight} and, when
     *                {@code hasBias}, {@code prefix.bias}
     */
    public Linear(WeightLoader loader, String prefix, int inFeatures, int outFeatures, boolean hasBias) {
        NDArray loadedWeight = loader.load(prefix + ".weight", outFeatures, inFeatures);
        NDArray loadedBias = hasBias ? loader.load(prefix + ".bias", outFeatures) : null;
        this.bf16 = Bf16Kernels.forLoader(loader, loadedWeight);
        this.weight = bf16 == null ? loadedWeight : bf16.held(loadedWeight);
        this.bias = bf16 == null || loadedBias == null ? loadedBias : bf16.held(loadedBias);
    }

    /**
     * @param x {@code [..., in]}; not modified
     * @return {@code [..., out]} in {@code x}'s manager
     */
    public NDArray forward(NDArray x) {
        NDArray out = bf16 != null ? bf16.linear(x, weight, bias)
                : ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow();
        // out elements x in
        Arithmetic.multiplyAdds(out.getShape().size() * weight.getShape().get(1));
        return out;
    }
}
