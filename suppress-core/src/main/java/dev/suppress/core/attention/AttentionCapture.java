package dev.suppress.core.attention;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What attention a UNet evaluation should hand back: the maps averaged over the layers of one resolution at the
 * given places and over heads, per batch element, and optionally the raw probabilities of chosen layers.
 *
 * <p>Averaging follows the reference's {@code aggregate_attention}: collect the softmax probabilities of every layer
 * at {@code resolution} in the listed places, keep the heads that {@link #headAveraging} selects, and take the mean
 * over all (layer, head) pairs.
 *
 * @param resolution    side of the maps to aggregate (16 for SD 1.x at 512 px)
 * @param crossPlaces   places whose cross-attention layers are averaged (the reference: up and down)
 * @param selfPlaces    places whose self-attention layers are averaged (the reference: up, down and mid)
 * @param headAveraging which heads enter the mean
 * @param rawLayers     layers whose full probabilities {@code [batch*heads, pixels, keys]} are also returned;
 *                      usually empty (for tests and diagnostics)
 */
public record AttentionCapture(int resolution, Set<UNetPlace> crossPlaces, Set<UNetPlace> selfPlaces,
                               HeadAveraging headAveraging, Set<AttentionLayerId> rawLayers) {

    public AttentionCapture {
        if (resolution < 1) {
            throw new IllegalArgumentException("resolution must be positive, got " + resolution);
        }
        Objects.requireNonNull(headAveraging, "headAveraging");
        crossPlaces = Set.copyOf(crossPlaces);
        selfPlaces = Set.copyOf(selfPlaces);
        rawLayers = Set.copyOf(rawLayers);
    }

    /** The capture the reference uses for ITO: cross maps from up and down, self maps from up, down and mid. */
    public static AttentionCapture reference(int resolution, HeadAveraging headAveraging) {
        return new AttentionCapture(resolution, EnumSet.of(UNetPlace.UP, UNetPlace.DOWN),
                EnumSet.of(UNetPlace.UP, UNetPlace.DOWN, UNetPlace.MID), headAveraging, Set.of());
    }

    /** The same capture, also returning the raw probabilities of {@code layers}. */
    public AttentionCapture withRawLayers(Set<AttentionLayerId> layers) {
        return new AttentionCapture(resolution, crossPlaces, selfPlaces, headAveraging, layers);
    }

    /** True when a layer's maps enter the average for a latent of side {@code latentSide}. */
    public boolean aggregates(AttentionLayerInfo layer, int latentSide) {
        if (layer.resolution(latentSide) != resolution) {
            return false;
        }
        Set<UNetPlace> places = layer.id().kind() == AttentionKind.CROSS ? crossPlaces : selfPlaces;
        return places.contains(layer.id().place());
    }
}
