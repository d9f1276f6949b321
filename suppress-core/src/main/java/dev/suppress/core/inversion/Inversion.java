package dev.suppress.core.inversion;

/** How a real photo's unconditional embeddings are found (ALGORITHM.md §6). */
public enum Inversion {
    /**
     * Null-text inversion: per step, Adam on the unconditional embedding so that the guided DDIM step retraces the
     * DDIM inversion trajectory. Accurate; needs a backend with autograd (about 10 forward-and-backward UNet passes
     * per step).
     */
    NULL_TEXT,
    /** Negative-prompt inversion: the prompt's own embedding as the unconditional one at every step. Fast. */
    NEGATIVE_PROMPT
}
