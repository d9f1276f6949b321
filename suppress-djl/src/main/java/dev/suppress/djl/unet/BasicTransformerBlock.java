package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.djl.nn.LayerNorm;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code BasicTransformerBlock} (attention.py) with {@code norm_type="layer_norm"}: self-attention
 * ({@code attn1}), cross-attention on the context ({@code attn2}) and the GEGLU feed-forward, each pre-normed and
 * residual.
 */
final class BasicTransformerBlock {

    /** diffusers' {@code norm_eps} default for these layer norms. */
    private static final double NORM_EPS = 1e-5;

    private final LayerNorm norm1;
    private final Attention attn1;
    private final LayerNorm norm2;
    private final Attention attn2;
    private final LayerNorm norm3;
    private final FeedForward ff;

    /**
     * @param prefix           e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0}
     * @param downsampleFactor how much smaller than the latent this block's feature map is
     */
    BasicTransformerBlock(WeightLoader loader, AttentionLayerRegistry registry, String prefix, UNetPlace place,
                          int downsampleFactor, int dim, int heads, int headDim, int crossAttentionDim) {
        this.norm1 = new LayerNorm(loader, prefix + ".norm1", dim, NORM_EPS);
        this.attn1 = new Attention(loader, prefix + ".attn1", dim, dim, heads, headDim,
                registry.register(place, AttentionKind.SELF, prefix + ".attn1", downsampleFactor, heads));
        this.norm2 = new LayerNorm(loader, prefix + ".norm2", dim, NORM_EPS);
        this.attn2 = new Attention(loader, prefix + ".attn2", dim, crossAttentionDim, heads, headDim,
                registry.register(place, AttentionKind.CROSS, prefix + ".attn2", downsampleFactor, heads));
        this.norm3 = new LayerNorm(loader, prefix + ".norm3", dim, NORM_EPS);
        this.ff = new FeedForward(loader, prefix + ".ff", dim);
    }

    /**
     * @param hidden  {@code [batch, pixels, dim]}
     * @param context {@code [batch, keys, M]}
     * @return {@code [batch, pixels, dim]}; unspecified once the recorder is done
     */
    NDArray forward(NDArray hidden, NDArray context, AttentionRecorder recorder) {
        NDArray out = attn1.forward(norm1.forward(hidden), null, recorder).add(hidden);
        if (recorder.done()) {
            return out;
        }
        out = attn2.forward(norm2.forward(out), context, recorder).add(out);
        if (recorder.done()) {
            return out;
        }
        return ff.forward(norm3.forward(out)).add(out);
    }
}
