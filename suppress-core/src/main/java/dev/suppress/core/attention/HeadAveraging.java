package dev.suppress.core.attention;

/**
 * Which attention heads the aggregated maps average over, per batch element.
 */
public enum HeadAveraging {
    /** Every head: the mean of the softmax probabilities over all heads and all selected layers. */
    ALL_HEADS,
    /**
     * Only the first half of the heads. ALGORITHM.md §4, quirk of the reference: {@code aggregate_attention}
     * reshapes the stored {@code (batch*heads, pixels, keys)} probabilities as {@code (2, -1, res, res, keys)} and
     * takes index 0, which for its batch-1 ITO passes keeps heads {@code 0 .. heads/2-1}. Reference-compatible mode
     * uses this for single-sample passes; {@link #ALL_HEADS} turns it off.
     */
    FIRST_HALF_OF_HEADS
}
