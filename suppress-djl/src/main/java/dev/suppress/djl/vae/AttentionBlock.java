package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.suppress.djl.nn.Bf16Kernels;
import dev.suppress.djl.nn.GroupNorm;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/**
 * The VAE mid block's single-head self-attention over pixels: diffusers {@code Attention} with
 * {@code _from_deprecated_attn_block=True} (formerly {@code AttentionBlock}): GroupNorm, {@code to_q/to_k/to_v} with
 * bias, {@code softmax(Q K^T / sqrt(C)) V}, {@code to_out.0}, plus the residual.
 *
 * <p>Checkpoints saved before diffusers renamed the module use {@code query/key/value/proj_attn}; both are read.
 */
final class AttentionBlock {

    private final GroupNorm groupNorm;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final NDArray scale;
    /** Null unless the part computes in bfloat16. */
    private final Bf16Kernels bf16;

    /** @param prefix e.g. {@code decoder.mid_block.attentions.0} */
    AttentionBlock(WeightLoader loader, String prefix, int channels, int groups, double eps) {
        this.groupNorm = new GroupNorm(loader, prefix + ".group_norm", groups, channels, eps);
        this.toQ = projection(loader, prefix, "to_q", "query", channels);
        this.toK = projection(loader, prefix, "to_k", "key", channels);
        this.toV = projection(loader, prefix, "to_v", "value", channels);
        this.toOut = projection(loader, prefix, "to_out.0", "proj_attn", channels);
        this.scale = loader.constant(Math.pow(channels, -0.5));
        this.bf16 = Bf16Kernels.forLoader(loader, scale);
    }

    private static Linear projection(WeightLoader loader, String prefix, String name, String legacyName,
                                     int channels) {
        String key = prefix + "." + name;
        String legacy = prefix + "." + legacyName;
        if (!loader.hasPrefix(key + ".") && loader.hasPrefix(legacy + ".")) {
            key = legacy;
        }
        return new Linear(loader, key, channels, channels, true);
    }

    /**
     * @param x {@code [batch, channels, h, w]}
     * @return {@code [batch, channels, h, w]}
     */
    NDArray forward(NDArray x) {
        return Intermediates.freedAfter(x, this::attend);
    }

    private NDArray attend(NDArray x) {
        Shape shape = x.getShape();
        long batch = shape.get(0);
        long channels = shape.get(1);
        long pixels = shape.get(2) * shape.get(3);
        NDArray hidden = groupNorm.forward(x).reshape(batch, channels, pixels).transpose(0, 2, 1);
        NDArray query = toQ.forward(hidden).mul(scale);
        NDArray key = toK.forward(hidden);
        NDArray value = toV.forward(hidden);
        // bfloat16: fused attention, so the decoder never holds the pixels x pixels probabilities
        NDArray attended = bf16 != null ? bf16.attention(query, key, value)
                : query.matMul(key.transpose(0, 2, 1)).softmax(-1).matMul(value);
        return toOut.forward(attended).transpose(0, 2, 1).reshape(shape).add(x);
    }
}
