package dev.suppress.core.attention;

import dev.suppress.core.tensor.Tensor;

import java.util.Map;
import java.util.Objects;

/**
 * Aggregated attention maps of one UNet evaluation, per batch element.
 *
 * @param cross cross-attention maps {@code [batch, h, w, keys]} (keys = 77 tokens), {@code h x w} the maps' height
 *              and width ({@code res x res} for a square latent)
 * @param self  self-attention maps {@code [batch, h, w, h*w]}: entry {@code [b, y, x, j]} is how much query
 *              pixel {@code (y, x)} attends to key pixel {@code j} (row-major, {@code j = y' * w + x'})
 * @param raw   raw probabilities {@code [batch*heads, pixels, keys]} of the layers the capture asked for
 *              (batch-major: row {@code b*heads + h})
 */
public record AttentionMaps(Tensor cross, Tensor self, Map<AttentionLayerId, Tensor> raw) {

    public AttentionMaps {
        Objects.requireNonNull(cross, "cross");
        Objects.requireNonNull(self, "self");
        raw = Map.copyOf(raw);
        if (cross.rank() != 4 || self.rank() != 4 || cross.dim(0) != self.dim(0) || cross.dim(1) != self.dim(1)
                || cross.dim(2) != self.dim(2)) {
            throw new IllegalArgumentException("Expected cross [batch, h, w, keys] and self [batch, h, w, "
                    + "h*w], got " + cross + " and " + self);
        }
    }

    /** The batch size. */
    public int batchSize() {
        return cross.dim(0);
    }

    /**
     * The side of square maps.
     *
     * @throws IllegalStateException for maps that are not square: read {@link #height()} and {@link #width()}
     */
    public int resolution() {
        if (height() != width()) {
            throw new IllegalStateException("The maps are " + height() + "x" + width() + " (height x width), not "
                    + "square");
        }
        return height();
    }

    /** The height of the maps. */
    public int height() {
        return cross.dim(1);
    }

    /** The width of the maps. */
    public int width() {
        return cross.dim(2);
    }

    /** The maps of batch element {@code index} alone, as a batch of one (raw maps dropped). */
    public AttentionMaps element(int index) {
        return new AttentionMaps(cross.batchElement(index), self.batchElement(index), Map.of());
    }
}
