package dev.suppress.core;

import java.util.Locale;

/**
 * The UNet work a run took, counted in single-sample passes (a batch of four is four), and in forward-equivalents:
 * the cost of one full single-sample forward pass being 1.
 *
 * <p>Forward-equivalents count a full pass as 1, a pass stopped after the last captured attention layer as the
 * share of the arithmetic it performs (the backend's {@code attentionPassFraction}), and a gradient probe as its
 * forward share plus its backward pass at the cost measured on the running backend relative to that forward pass.
 *
 * @param noisePredictions   full forward passes that produced a noise prediction (denoising steps, inversion, ITO
 *                           reference passes in reference mode)
 * @param attentionPasses    forward passes run only for their attention maps (finite differences)
 * @param gradientProbes     forward-and-backward passes of an autograd probe (ITO iterations, null-text steps)
 * @param forwardEquivalents all of it in units of one full single-sample forward pass
 */
public record UNetWork(long noisePredictions, long attentionPasses, long gradientProbes, double forwardEquivalents) {

    public UNetWork {
        if (noisePredictions < 0 || attentionPasses < 0 || gradientProbes < 0 || !(forwardEquivalents >= 0)) {
            throw new IllegalArgumentException("Negative work");
        }
    }

    /** No work. */
    public static final UNetWork NONE = new UNetWork(0, 0, 0, 0);

    /** Every UNet evaluation, each probe counted once (its forward pass). */
    public long evaluations() {
        return noisePredictions + attentionPasses + gradientProbes;
    }

    /** The sum of two counts. */
    public UNetWork plus(UNetWork other) {
        return new UNetWork(noisePredictions + other.noisePredictions, attentionPasses + other.attentionPasses,
                gradientProbes + other.gradientProbes, forwardEquivalents + other.forwardEquivalents);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%.1f forward-equivalents, %d UNet evaluations (%d noise predictions, %d "
                + "attention-only passes, %d gradient probes)", forwardEquivalents, evaluations(), noisePredictions,
                attentionPasses, gradientProbes);
    }
}
