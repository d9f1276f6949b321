package dev.suppress.onnx.graph;

import dev.suppress.core.attention.AttentionLayerInfo;

import java.util.Objects;

/**
 * The Softmax node of one UNet attention layer in an exported graph: its output is the layer's attention
 * probabilities {@code [batch*heads, pixels, keys]} (diffusers {@code AttnProcessor}) or
 * {@code [batch, heads, pixels, keys]} (the exported {@code scaled_dot_product_attention} of
 * {@code AttnProcessor2_0}); both are batch-major.
 *
 * @param layer      what the layer is (place, self/cross, order, module path, downsample factor, heads)
 * @param nodeName   the node's name, e.g. {@code /down_blocks.1/attentions.0/transformer_blocks.0/attn2/Softmax}
 * @param outputName the tensor it writes, which a graph edit turns into a graph output
 */
public record AttentionSoftmaxNode(AttentionLayerInfo layer, String nodeName, String outputName) {

    public AttentionSoftmaxNode {
        Objects.requireNonNull(layer, "layer");
        Objects.requireNonNull(nodeName, "nodeName");
        Objects.requireNonNull(outputName, "outputName");
    }
}
