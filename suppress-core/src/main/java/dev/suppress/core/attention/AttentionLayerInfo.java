package dev.suppress.core.attention;

import java.util.Objects;

/**
 * What a backend knows about one attention layer of its UNet.
 *
 * @param id               the layer's place, kind and order
 * @param modulePath       the diffusers module path, e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0.attn2}
 * @param downsampleFactor how much smaller the layer's feature map is than the latent (1, 2, 4, 8, ...): for a
 *                         latent of side {@code s} its maps are {@code s / downsampleFactor} pixels wide
 * @param heads            number of attention heads
 */
public record AttentionLayerInfo(AttentionLayerId id, String modulePath, int downsampleFactor, int heads) {

    public AttentionLayerInfo {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(modulePath, "modulePath");
        if (downsampleFactor < 1 || Integer.bitCount(downsampleFactor) != 1) {
            throw new IllegalArgumentException("downsampleFactor must be a power of two, got " + downsampleFactor);
        }
        if (heads < 1) {
            throw new IllegalArgumentException("heads must be positive, got " + heads);
        }
    }

    /** The side of this layer's attention maps for a latent {@code latentSide} pixels wide. */
    public int resolution(int latentSide) {
        return latentSide / downsampleFactor;
    }
}
