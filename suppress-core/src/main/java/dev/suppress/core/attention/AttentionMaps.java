package dev.suppress.core.attention;

import dev.suppress.core.tensor.Tensor;

import java.util.Map;
import java.util.Objects;

/**
 * Aggregated attention maps of one UNet evaluation, per batch element.
 *
 * @param cross cross-attention maps {@code [batch, res, res, keys]} (keys = 77 tokens)
 * @param self  self-attention maps {@code [batch, res, res, res*res]}: entry {@code [b, y, x, j]} is how much query
 *              pixel {@code (y, x)} attends to key pixel {@code j}
 * @param raw   raw probabilities {@code [batch*heads, pixels, keys]} of the layers the capture asked for
 *              (batch-major: row {@code b*heads + h})
 */
public record AttentionMaps(Tensor cross, Tensor self, Map<AttentionLayerId, Tensor> raw) {

    public AttentionMaps {
        Objects.requireNonNull(cross, "cross");
        Objects.requireNonNull(self, "self");
        raw = Map.copyOf(raw);
        if (cross.rank() != 4 || self.rank() != 4 || cross.dim(0) != self.dim(0)) {
            throw new IllegalArgumentException("Expected cross [batch, res, res, keys] and self [batch, res, res, "
                    + "res*res], got " + cross + " and " + self);
        }
    }

    /** The batch size. */
    public int batchSize() {
        return cross.dim(0);
    }

    /** The side of the maps. */
    public int resolution() {
        return cross.dim(1);
    }

    /** The maps of batch element {@code index} alone, as a batch of one (raw maps dropped). */
    public AttentionMaps element(int index) {
        return new AttentionMaps(cross.batchElement(index), self.batchElement(index), Map.of());
    }
}
