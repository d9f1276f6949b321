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
     *
     * <p>For an odd head count the reference's reshape fails; here the first {@code (heads+1)/2} heads are kept
     * (how {@code torch.chunk(2)} splits), so a one-head layer keeps its only head.
     */
    FIRST_HALF_OF_HEADS;

    /**
     * How many leading heads of each batch element enter the mean.
     *
     * @param heads the layer's head count, at least 1
     * @return {@code heads} for {@link #ALL_HEADS}, {@code (heads+1)/2} for {@link #FIRST_HALF_OF_HEADS}
     */
    public int keptHeads(int heads) {
        if (heads < 1) {
            throw new IllegalArgumentException("heads must be positive, got " + heads);
        }
        return this == ALL_HEADS ? heads : (heads + 1) / 2;
    }
}
