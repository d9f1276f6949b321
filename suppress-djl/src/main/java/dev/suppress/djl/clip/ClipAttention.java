package dev.suppress.djl.clip;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/**
 * transformers {@code CLIPAttention}: multi-head self-attention with the causal mask added to the scores.
 */
final class ClipAttention {

    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear outProj;
    private final int heads;
    private final int headDim;
    private final NDArray scale;

    ClipAttention(WeightLoader loader, String prefix, ClipTextConfig config) {
        int width = config.hiddenSize();
        this.qProj = new Linear(loader, prefix + ".q_proj", width, width, true);
        this.kProj = new Linear(loader, prefix + ".k_proj", width, width, true);
        this.vProj = new Linear(loader, prefix + ".v_proj", width, width, true);
        this.outProj = new Linear(loader, prefix + ".out_proj", width, width, true);
        this.heads = config.numAttentionHeads();
        this.headDim = config.headDim();
        this.scale = loader.constant(Math.pow(headDim, -0.5));
    }

    /**
     * @param hidden      {@code [batch, seq, width]}
     * @param causalMask  {@code [seq, seq]}, 0 on and below the diagonal, the most negative float above it
     * @return {@code [batch, seq, width]}
     */
    NDArray forward(NDArray hidden, NDArray causalMask) {
        long batch = hidden.getShape().get(0);
        long seq = hidden.getShape().get(1);
        // transformers scales the query before the product: query_states = q_proj(x) * scale
        NDArray query = toHeads(qProj.forward(hidden).mul(scale), batch, seq);
        NDArray key = toHeads(kProj.forward(hidden), batch, seq);
        NDArray value = toHeads(vProj.forward(hidden), batch, seq);
        NDArray probabilities = query.matMul(key.transpose(0, 2, 1)).add(causalMask).softmax(-1);
        NDArray context = probabilities.matMul(value)
                .reshape(batch, heads, seq, headDim).transpose(0, 2, 1, 3).reshape(batch, seq, (long) heads * headDim);
        return outProj.forward(context);
    }

    /** {@code [batch, seq, heads*headDim]} to {@code [batch*heads, seq, headDim]}, batch-major. */
    private NDArray toHeads(NDArray x, long batch, long seq) {
        return x.reshape(batch, seq, heads, headDim).transpose(0, 2, 1, 3).reshape(batch * heads, seq, headDim);
    }
}
