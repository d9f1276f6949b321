package dev.suppress.core.attention;

import java.util.Objects;

/**
 * What a backend knows about one attention layer of its UNet.
 *
 * @param id               the layer's place, kind and order
 * @param modulePath       the diffusers module path, e.g. {@code down_blocks.1.attentions.0.transformer_blocks.0.attn2}
 * @param downsampleFactor how much smaller the layer's feature map is than the latent (1, 2, 4, 8, ...): for a
 *                         latent {@code h x w} its maps are {@code (h / downsampleFactor) x (w / downsampleFactor)}
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

    /**
     * The extent of this layer's attention maps along one axis of the latent: their side for a square latent of
     * side {@code latentSide}, their height for a latent {@code latentSide} high, their width for one that wide.
     */
    public int resolution(int latentSide) {
        return latentSide / downsampleFactor;
    }
}
