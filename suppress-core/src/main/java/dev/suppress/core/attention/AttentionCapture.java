package dev.suppress.core.attention;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * What attention a UNet evaluation should hand back: the maps averaged over the layers of one resolution at the
 * given places and over heads, per batch element, and optionally the raw probabilities of chosen layers.
 *
 * <p>Averaging follows the reference's {@code aggregate_attention}: collect the softmax probabilities of every layer
 * at {@code height x width} in the listed places, keep the heads that {@link #headAveraging} selects, and take the
 * mean over all (layer, head) pairs.
 *
 * @param height        height of the maps to aggregate in map pixels (16 for SD 1.x at 512 px; a latent
 *                      {@code [.., h, w]} has maps {@code h / f} high at a level that downsamples by {@code f})
 * @param width         width of the maps likewise ({@code w / f})
 * @param crossPlaces   places whose cross-attention layers are averaged (the reference: up and down)
 * @param selfPlaces    places whose self-attention layers are averaged (the reference: up, down and mid)
 * @param headAveraging which heads enter the mean
 * @param rawLayers     layers whose full probabilities {@code [batch*heads, pixels, keys]} are also returned;
 *                      usually empty (for tests and diagnostics)
 */
public record AttentionCapture(int height, int width, Set<UNetPlace> crossPlaces, Set<UNetPlace> selfPlaces,
                               HeadAveraging headAveraging, Set<AttentionLayerId> rawLayers) {

    public AttentionCapture {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException("The map height and width must be positive, got " + height + "x"
                    + width);
        }
        Objects.requireNonNull(headAveraging, "headAveraging");
        crossPlaces = Set.copyOf(crossPlaces);
        selfPlaces = Set.copyOf(selfPlaces);
        rawLayers = Set.copyOf(rawLayers);
    }

    /** A capture of square {@code resolution x resolution} maps. */
    public AttentionCapture(int resolution, Set<UNetPlace> crossPlaces, Set<UNetPlace> selfPlaces,
                            HeadAveraging headAveraging, Set<AttentionLayerId> rawLayers) {
        this(checkedSide(resolution), resolution, crossPlaces, selfPlaces, headAveraging, rawLayers);
    }

    private static int checkedSide(int resolution) {
        if (resolution < 1) {
            throw new IllegalArgumentException("resolution must be positive, got " + resolution);
        }
        return resolution;
    }

    /** The capture the reference uses for ITO: cross maps from up and down, self maps from up, down and mid. */
    public static AttentionCapture reference(int resolution, HeadAveraging headAveraging) {
        return reference(resolution, resolution, headAveraging);
    }

    /** {@link #reference(int, HeadAveraging)} for maps {@code height x width} (a non-square latent). */
    public static AttentionCapture reference(int height, int width, HeadAveraging headAveraging) {
        return new AttentionCapture(height, width, EnumSet.of(UNetPlace.UP, UNetPlace.DOWN),
                EnumSet.of(UNetPlace.UP, UNetPlace.DOWN, UNetPlace.MID), headAveraging, Set.of());
    }

    /** The same capture, also returning the raw probabilities of {@code layers}. */
    public AttentionCapture withRawLayers(Set<AttentionLayerId> layers) {
        return new AttentionCapture(height, width, crossPlaces, selfPlaces, headAveraging, layers);
    }

    /**
     * The side of square maps.
     *
     * @throws IllegalStateException for maps that are not square: read {@link #height()} and {@link #width()}
     */
    public int resolution() {
        if (height != width) {
            throw new IllegalStateException("The capture's maps are " + height + "x" + width + " (height x width), "
                    + "not square");
        }
        return height;
    }

    /** The number of pixels of one map, {@code height * width}. */
    public int pixels() {
        return height * width;
    }

    /** True when a layer's maps enter the average for a square latent of side {@code latentSide}. */
    public boolean aggregates(AttentionLayerInfo layer, int latentSide) {
        return aggregates(layer, latentSide, latentSide);
    }

    /** True when a layer's maps enter the average for a latent {@code latentHeight x latentWidth}. */
    public boolean aggregates(AttentionLayerInfo layer, int latentHeight, int latentWidth) {
        if (layer.resolution(latentHeight) != height || layer.resolution(latentWidth) != width) {
            return false;
        }
        Set<UNetPlace> places = layer.id().kind() == AttentionKind.CROSS ? crossPlaces : selfPlaces;
        return places.contains(layer.id().place());
    }

    /** {@code HxW} for messages. */
    public String sizeText() {
        return height + "x" + width;
    }
}
