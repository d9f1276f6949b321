package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

import java.util.List;
import java.util.Objects;

/**
 * Per-token cross-attention maps of both branches, averaged over the conditional passes of every denoising step,
 * over the layers of one resolution and over all heads.
 *
 * @param tokens     the display text of prompt tokens {@code 1 .. n-2} (token {@code i} at list index {@code i-1})
 * @param original   the original branch's maps {@code [res, res, 77]}
 * @param suppressed the suppressed branch's maps {@code [res, res, 77]}
 */
public record TokenAttention(List<String> tokens, Tensor original, Tensor suppressed) {

    public TokenAttention {
        tokens = List.copyOf(tokens);
        Objects.requireNonNull(original, "original");
        Objects.requireNonNull(suppressed, "suppressed");
    }

    /** The side of the maps. */
    public int resolution() {
        return original.dim(0);
    }

    /** The map of prompt token {@code index} ({@code 1 .. n-2}) in one branch, {@code [res, res]}. */
    public Tensor map(int index, boolean suppressedBranch) {
        if (index < 1 || index > tokens.size()) {
            throw new IllegalArgumentException("Token index " + index + " is not a prompt token (1.." + tokens.size()
                    + ")");
        }
        Tensor maps = suppressedBranch ? suppressed : original;
        int res = maps.dim(0);
        int keys = maps.dim(2);
        float[] all = maps.toArray();
        float[] out = new float[res * res];
        for (int pixel = 0; pixel < out.length; pixel++) {
            out[pixel] = all[pixel * keys + index];
        }
        return Tensor.wrapOwned(out, res, res);
    }
}
