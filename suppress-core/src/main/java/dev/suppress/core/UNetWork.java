package dev.suppress.core;

/**
 * The UNet work a run took, counted in single-sample passes (a batch of four is four).
 *
 * @param noisePredictions full forward passes that produced a noise prediction (denoising steps, ITO reference
 *                         passes in reference mode, inversion)
 * @param attentionPasses  forward passes run only for their attention maps (finite differences), which a backend
 *                         may stop after the last captured layer
 * @param gradientProbes   forward-and-backward passes of an autograd probe (ITO iterations)
 */
public record UNetWork(long noisePredictions, long attentionPasses, long gradientProbes) {

    public UNetWork {
        if (noisePredictions < 0 || attentionPasses < 0 || gradientProbes < 0) {
            throw new IllegalArgumentException("Negative pass count");
        }
    }

    /** No work. */
    public static final UNetWork NONE = new UNetWork(0, 0, 0);

    /** Every UNet evaluation, each probe counted once (its forward pass). */
    public long evaluations() {
        return noisePredictions + attentionPasses + gradientProbes;
    }

    /** The sum of two counts. */
    public UNetWork plus(UNetWork other) {
        return new UNetWork(noisePredictions + other.noisePredictions, attentionPasses + other.attentionPasses,
                gradientProbes + other.gradientProbes);
    }

    @Override
    public String toString() {
        return evaluations() + " UNet evaluations (" + noisePredictions + " noise predictions, " + attentionPasses
                + " attention-only passes, " + gradientProbes + " gradient probes)";
    }
}
