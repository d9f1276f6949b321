package dev.suppress.onnx;

import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.tensor.Tensor;

import java.util.List;
import java.util.Map;

/**
 * The attention Softmax outputs of one UNet evaluation, as the graph computed them: what core's attention
 * aggregation turns into {@link dev.suppress.core.attention.AttentionMaps}.
 *
 * @param batch         the batch size of the evaluation
 * @param latentHeight  the latent's height {@code h}
 * @param latentWidth   the latent's width {@code w}
 * @param layers        the captured layers, in forward order
 * @param probabilities per layer, {@code [batch*heads, pixels, keys]} with batch-major rows ({@code b*heads + h});
 *                      pixels are the layer's {@code (h/f) x (w/f)} query positions in row-major order, keys are
 *                      77 tokens (cross) or the same pixels (self)
 */
record RawAttention(int batch, int latentHeight, int latentWidth, List<AttentionLayerInfo> layers,
                    Map<AttentionLayerId, Tensor> probabilities) {

    RawAttention {
        layers = List.copyOf(layers);
        probabilities = Map.copyOf(probabilities);
    }
}
