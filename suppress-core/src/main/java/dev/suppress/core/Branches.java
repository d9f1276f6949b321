package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * The latents of both branches between two denoising steps.
 *
 * @param original   the original branch {@code [1, 4, h, w]}, or {@code null} once a suppressed-only run stopped it
 * @param suppressed the suppressed branch {@code [1, 4, h, w]}
 */
record Branches(Tensor original, Tensor suppressed) {

    Branches {
        Objects.requireNonNull(suppressed, "suppressed");
        if (original != null && !Arrays.equals(original.shape(), suppressed.shape())) {
            throw new IllegalArgumentException("Branch latents differ in shape: " + original + " and " + suppressed);
        }
    }

    /** Both branches at the same latent (before the suppressed branch departs). */
    static Branches shared(Tensor latent) {
        return new Branches(latent, latent);
    }

    boolean originalStopped() {
        return original == null;
    }
}
