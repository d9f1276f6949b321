package dev.suppress.core.ito;

import java.util.Objects;

/**
 * How fast mode runs ITO (the reference restarts each step from SWR and takes a fixed number of steps). Fast mode
 * keeps the iterate with the lowest loss at every step and chooses each step's number of updates: it stops when an
 * update lowers the loss by less than {@code relativeTolerance} of it (or two updates in a row do not lower it), and
 * allows more updates when the warm start has drifted.
 *
 * @param warmStart           start each step's optimisation from the previous step's result instead of from that
 *                            step's SWR embedding (the reference maps and the latent change little between steps)
 * @param firstStepIterations the most updates at a cold start (the first optimised step)
 * @param firstStepRule       the step rule there
 * @param iterations          the most updates at a warm-started step whose start has not drifted
 * @param rule                the step rule at warm-started steps
 * @param relativeTolerance   an update that lowers the loss by less than this fraction of it ends the step
 * @param driftMargin         a warm start whose loss is above the previous step's final loss by more than this
 *                            fraction of it has drifted
 * @param driftIterations     the most updates at a drifted step
 */
public record FastItoOptions(boolean warmStart, int firstStepIterations, StepRule firstStepRule, int iterations,
                             StepRule rule, double relativeTolerance, double driftMargin, int driftIterations) {

    /**
     * The defaults: a cold first step of up to 10 updates (the reference always takes 10), then at most 4 updates per
     * warm-started step, ending a step once an update gains less than 2%, and up to 10 updates when the warm start's
     * loss has doubled over the previous step's. These thresholds are provisional: measured on the 24-run grid of
     * benchmarks/ito-grid.md they leave 18 runs above the matched-state audit's 5% slack, mostly because the cold
     * first step stops early.
     */
    public static final FastItoOptions DEFAULT = new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.BACKTRACK,
            0.02, 1.0, 10);

    public FastItoOptions {
        Objects.requireNonNull(firstStepRule, "firstStepRule");
        Objects.requireNonNull(rule, "rule");
        if (firstStepIterations < 0 || iterations < 0 || driftIterations < 0) {
            throw new IllegalArgumentException("ITO update counts must be >= 0, got " + firstStepIterations + ", "
                    + iterations + " and " + driftIterations);
        }
        if (!(relativeTolerance >= 0 && relativeTolerance < 1) || !(driftMargin >= 0) || !Double.isFinite(driftMargin)) {
            throw new IllegalArgumentException("relativeTolerance must be in [0, 1) and driftMargin finite and >= 0, "
                    + "got " + relativeTolerance + " and " + driftMargin);
        }
    }

    /** How the step size evolves within one denoising step's optimisation. */
    public enum StepRule {
        /** The reference's {@code s·√r_i} throughout, going on from an iterate that raised the loss. */
        FIXED,
        /** Back to the best iterate with half the step whenever the loss rises. */
        BACKTRACK
    }
}
