package dev.suppress.core.attention;

import java.util.Objects;

/**
 * One attention layer of the UNet, named as the reference's {@code AttentionStore} keys it:
 * {@code {place}_{cross|self}}, and its order of appearance among the layers with the same key in one forward
 * pass ({@code down_cross_1} is the second cross-attention layer of the down path).
 *
 * @param place where in the UNet
 * @param kind  self or cross
 * @param order 0-based order among layers of the same place and kind
 */
public record AttentionLayerId(UNetPlace place, AttentionKind kind, int order) {

    public AttentionLayerId {
        Objects.requireNonNull(place, "place");
        Objects.requireNonNull(kind, "kind");
        if (order < 0) {
            throw new IllegalArgumentException("Negative layer order " + order);
        }
    }

    /** The reference's name, e.g. {@code down_cross_1}. */
    public String referenceName() {
        return place.name().toLowerCase(java.util.Locale.ROOT) + "_" + kind.name().toLowerCase(java.util.Locale.ROOT)
                + "_" + order;
    }

    @Override
    public String toString() {
        return referenceName();
    }
}
