package dev.suppress.core.internal.attention;

import dev.suppress.core.attention.LossWeights;

/**
 * The four unweighted terms of the attention loss (ALGORITHM.md §4), each a sum of cosine distances
 * {@code 1 - cos} between the original and the erased branch's maps.
 *
 * @param retain     over the kept prompt tokens' cross-attention columns
 * @param erase      over the negative tokens' cross-attention columns
 * @param selfRetain over the self-attention columns (key pixels) selected by each kept token's mask, a pixel
 *                   counted once per token that selects it
 * @param selfErase  the same over the negative tokens' masks
 */
public record LossParts(double retain, double erase, double selfRetain, double selfErase) {

    /**
     * The loss: {@code λ_r retain + λ_e erase + λ_sr selfRetain + λ_se selfErase}, summed in the reference's order.
     */
    public double weightedSum(LossWeights weights) {
        double loss = 0.0;
        loss += weights.retain() * retain;
        loss += weights.erase() * erase;
        loss += weights.selfRetain() * selfRetain;
        loss += weights.selfErase() * selfErase;
        return loss;
    }
}
