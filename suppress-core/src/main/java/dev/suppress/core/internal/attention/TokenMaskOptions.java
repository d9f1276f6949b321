package dev.suppress.core.internal.attention;

/**
 * How the attention loss turns each prompt token's reference cross-attention map into the mask that selects the
 * self-attention columns of its terms (ALGORITHM.md §4, the reference's {@code AttnLoss.calc_mask}): the map,
 * scaled to {@code 0..255}, is resized to {@code workingSize x workingSize}, set to 255 where it reaches
 * {@code threshold * max} and to 0 elsewhere, and resized back; a pixel is selected where the result is positive.
 *
 * @param negativeThreshold the fraction of the maximum for negative tokens (reference: 0.85)
 * @param retainThreshold   the fraction for the other prompt tokens (reference: 0.95, written there as
 *                          {@code threshold + .1})
 * @param workingSize       the side of the thresholding grid (reference: 256, hard-coded whatever the map size)
 */
public record TokenMaskOptions(double negativeThreshold, double retainThreshold, int workingSize) {

    /** The reference's values: 0.85, 0.95, 256. */
    public static final TokenMaskOptions REFERENCE = new TokenMaskOptions(0.85, 0.95, 256);

    public TokenMaskOptions {
        if (!(negativeThreshold > 0 && negativeThreshold <= 1) || !(retainThreshold > 0 && retainThreshold <= 1)) {
            throw new IllegalArgumentException("Mask thresholds must lie in (0, 1], got negativeThreshold "
                    + negativeThreshold + " and retainThreshold " + retainThreshold);
        }
        if (workingSize < 1) {
            throw new IllegalArgumentException("workingSize must be positive, got " + workingSize);
        }
    }
}
