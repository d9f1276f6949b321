package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

import java.util.List;
import java.util.Objects;

/**
 * Per-token cross-attention maps of both branches, averaged over the conditional passes of every denoising step,
 * over the layers of one resolution and over all heads.
 *
 * @param tokens     the display text of prompt tokens {@code 1 .. n-2} (token {@code i} at list index {@code i-1})
 * @param original   the original branch's maps {@code [h, w, 77]} ({@code h = w = res} for a square image)
 * @param suppressed the suppressed branch's maps {@code [h, w, 77]}
 */
public record TokenAttention(List<String> tokens, Tensor original, Tensor suppressed) {

    public TokenAttention {
        tokens = List.copyOf(tokens);
        Objects.requireNonNull(original, "original");
        Objects.requireNonNull(suppressed, "suppressed");
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
        return original.dim(0);
    }

    /** The width of the maps. */
    public int width() {
        return original.dim(1);
    }

    /** The map of prompt token {@code index} ({@code 1 .. n-2}) in one branch, {@code [h, w]}. */
    public Tensor map(int index, boolean suppressedBranch) {
        if (index < 1 || index > tokens.size()) {
            throw new IllegalArgumentException("Token index " + index + " is not a prompt token (1.." + tokens.size()
                    + ")");
        }
        Tensor maps = suppressedBranch ? suppressed : original;
        int height = maps.dim(0);
        int width = maps.dim(1);
        int keys = maps.dim(2);
        float[] all = maps.toArray();
        float[] out = new float[height * width];
        for (int pixel = 0; pixel < out.length; pixel++) {
            out[pixel] = all[pixel * keys + index];
        }
        return Tensor.wrapOwned(out, height, width);
    }
}
