package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.suppress.djl.weights.WeightLoader;

/**
 * {@code torch.nn.LayerNorm} over the last axis, with affine parameters; computed in float32 and returned in the
 * input's type, as CUDA autocast runs {@code layer_norm}.
 */
public final class LayerNorm {

    private final Shape normalized;
    private final float eps;
    private final NDArray gamma;
    private final NDArray beta;

    /** @param prefix the module key; loads {@code prefix.weight} and {@code prefix.bias}, both {@code [dim]} */
    public LayerNorm(WeightLoader loader, String prefix, int dim, double eps) {
        this.normalized = new Shape(dim);
        this.eps = (float) eps;
        this.gamma = loader.loadFloat32(prefix + ".weight", dim);
        this.beta = loader.loadFloat32(prefix + ".bias", dim);
    }

    /**
     * @param x {@code [..., dim]}; not modified
     * @return the normalised array, same shape and type, in {@code x}'s manager
     */
    public NDArray forward(NDArray x) {
        NDArray out = ai.djl.nn.norm.LayerNorm.layerNorm(ComputePrecision.toFloat32(x), normalized, gamma, beta, eps)
                .singletonOrThrow();
        return ComputePrecision.cast(out, x.getDataType());
    }
}
