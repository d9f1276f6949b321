package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Arithmetic;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.Bf16Kernels;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code Attention} (attention_processor.py) as the UNet's transformer blocks use it (no bias on
 * {@code to_q/to_k/to_v}, {@code to_out.0} with bias), computed the way the reference's attention processor does:
 * explicit {@code softmax(Q K^T * scale)} probabilities, {@code scale = head_dim^-0.5}, then {@code P V}.
 *
 * <p>The probabilities are handed to the {@link AttentionRecorder} when it wants this layer. {@code upcast_attention}
 * needs nothing here: everything is computed in float32.
 */
final class Attention {

    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final int heads;
    private final int headDim;
    private final NDArray scale;
    private final int layerIndex;
    /** Null unless the part computes in bfloat16. */
    private final Bf16Kernels bf16;

    /**
     * @param prefix     e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0.attn2}
     * @param contextDim width of the keys' source: the query width for self-attention, M for cross-attention
     * @param layerIndex forward index from the {@link AttentionLayerRegistry}
     */
    Attention(WeightLoader loader, String prefix, int queryDim, int contextDim, int heads, int headDim,
              int layerIndex) {
        int inner = heads * headDim;
        this.toQ = new Linear(loader, prefix + ".to_q", queryDim, inner, false);
        this.toK = new Linear(loader, prefix + ".to_k", contextDim, inner, false);
        this.toV = new Linear(loader, prefix + ".to_v", contextDim, inner, false);
        this.toOut = new Linear(loader, prefix + ".to_out.0", inner, queryDim, true);
        this.heads = heads;
        this.headDim = headDim;
        this.scale = loader.constant(Math.pow(headDim, -0.5));
        this.layerIndex = layerIndex;
        this.bf16 = Bf16Kernels.forLoader(loader, scale);
    }

    /**
     * @param hidden   {@code [batch, pixels, queryDim]}
     * @param context  {@code [batch, keys, contextDim]}, or {@code null} for self-attention
     * @param recorder receives {@code [batch*heads, pixels, keys]} when it wants this layer
     * @return {@code [batch, pixels, queryDim]}
     */
    NDArray forward(NDArray hidden, NDArray context, AttentionRecorder recorder) {
        // the scores and probabilities are the largest arrays of a pass: free them when the layer returns
        return Intermediates.freedAfter(hidden, input -> {
            NDArray source = context == null ? input : context;
            long batch = input.getShape().get(0);
            long pixels = input.getShape().get(1);
            long keys = source.getShape().get(1);
            // the scale is applied to Q (pixels x head_dim values) rather than to the scores (pixels x keys), the
            // same product up to float rounding at a fraction of the cost for self-attention
            NDArray query = headToBatch(toQ.forward(input).mul(scale), batch, pixels);
            NDArray key = headToBatch(toK.forward(source), batch, keys);
            NDArray value = headToBatch(toV.forward(source), batch, keys);
            // QK^T and PV: batch*heads x pixels x keys x head_dim each
            Arithmetic.multiplyAdds(2 * batch * heads * pixels * keys * headDim);
            NDArray attended;
            if (recorder.wants(layerIndex)) {
                NDArray probabilities = query.matMul(key.transpose(0, 2, 1)).softmax(-1);
                recorder.record(layerIndex, probabilities);
                attended = probabilities.matMul(value);
            } else if (bf16 != null) {
                // autocast's bfloat16 attention: fused, the probabilities never held (none are recorded here)
                attended = bf16.attention(query, key, value);
            } else {
                attended = attend(query, key, value, SLICE_ELEMENTS);
            }
            NDArray out = attended.reshape(batch, heads, pixels, headDim).transpose(0, 2, 1, 3)
                    .reshape(batch, pixels, (long) heads * headDim);
            return toOut.forward(out);
        });
    }

    /**
     * {@code softmax(Q K^T) V} over {@code [batch*heads, n, d]}, in slices of whole heads along the first axis when the
     * probabilities would hold more than {@code sliceElements} values (diffusers' attention slicing): every head is
     * computed exactly as unsliced, but only one slice's scores and probabilities are held at a time. Self-attention
     * at SD's 64x64 level at batch 4 would otherwise hold 2 x 2.1 GB of them.
     */
    static NDArray attend(NDArray query, NDArray key, NDArray value, long sliceElements) {
        long heads = query.getShape().get(0);
        long perHead = query.getShape().get(1) * key.getShape().get(1);
        if (heads * perHead <= sliceElements) {
            return query.matMul(key.transpose(0, 2, 1)).softmax(-1).matMul(value);
        }
        long slice = Math.max(1, sliceElements / perHead);
        ai.djl.ndarray.NDList parts = new ai.djl.ndarray.NDList();
        for (long start = 0; start < heads; start += slice) {
            String range = start + ":" + Math.min(heads, start + slice);
            NDArray scores = query.get(range).matMul(key.get(range).transpose(0, 2, 1));
            NDArray probabilities = Intermediates.then(scores, x -> x.softmax(-1));
            parts.add(Intermediates.then(probabilities, p -> p.matMul(value.get(range))));
        }
        NDArray joined = ai.djl.ndarray.NDArrays.concat(parts, 0);
        parts.close();
        return joined;
    }

    /** The most attention probabilities one slice holds (128 MiB of float32). */
    static final long SLICE_ELEMENTS = 1L << 25;

    /** diffusers {@code head_to_batch_dim}: {@code [b, n, heads*d]} to {@code [b*heads, n, d]}, batch-major. */
    private NDArray headToBatch(NDArray x, long batch, long length) {
        return x.reshape(batch, length, heads, headDim).transpose(0, 2, 1, 3).reshape(batch * heads, length, headDim);
    }
}
