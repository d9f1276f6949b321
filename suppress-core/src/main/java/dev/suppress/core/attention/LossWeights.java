package dev.suppress.core.attention;

/**
 * The weights of the four terms of the attention loss (ALGORITHM.md §4). A weight multiplies a sum of cosine
 * distances {@code 1 - cos}, so the erase weights are negative: minimising the loss pushes the erased branch's maps
 * of the negative tokens away from the original ones. The paper writes {@code λ_nl = 0.5} for what the reference
 * code passes as {@code lambda_erase = -0.5}; these are the code's signed values.
 *
 * @param retain     {@code λ_r}, cross-attention of the kept prompt tokens (reference: 1)
 * @param erase      {@code λ_e}, cross-attention of the negative tokens (reference: -0.5)
 * @param selfRetain {@code λ_sr}, self-attention columns selected by the kept tokens' masks (reference: 1)
 * @param selfErase  {@code λ_se}, self-attention columns selected by the negative tokens' masks (reference: -0.5)
 */
public record LossWeights(double retain, double erase, double selfRetain, double selfErase) {

    /** The reference's defaults ({@code AttentionStore.__init__}): 1, -0.5, 1, -0.5. */
    public static final LossWeights REFERENCE = new LossWeights(1.0, -0.5, 1.0, -0.5);

    public LossWeights {
        if (!Double.isFinite(retain) || !Double.isFinite(erase) || !Double.isFinite(selfRetain)
                || !Double.isFinite(selfErase)) {
            throw new IllegalArgumentException("Loss weights must be finite, got " + retain + ", " + erase + ", "
                    + selfRetain + ", " + selfErase);
        }
    }
}
