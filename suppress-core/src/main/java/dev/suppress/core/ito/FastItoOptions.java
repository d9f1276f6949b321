package dev.suppress.core.ito;

import java.util.Objects;

/**
 * How fast mode runs ITO (the reference restarts each step from SWR and takes a fixed number of steps). Fast mode
 * keeps the iterate with the lowest loss at every step and chooses each step's number of updates from a budget shared
 * by the window: every warm-started step is given {@code iterations} updates, stops early when an update lowers the
 * loss by less than {@code relativeTolerance} of it (or two updates in a row do not lower it), and passes the updates
 * it did not use on to the later steps, which may then take up to {@code maxIterations}. A step still gaining fast
 * when its share is spent (its last update lowered the loss by at least {@code continueGain} of it) goes on, one
 * update at a time while each gains that much, up to {@code maxIterations}, borrowing from the later steps' shares;
 * those repay it but keep at least {@code minIterations} each, so the window's warm updates never exceed
 * {@code iterations} per warm step. A step under {@link StepRule#FIXED} always takes its whole budget (its loss is not
 * monotone, so an early stop would judge a passing rise).
 *
 * @param warmStart           start each step's optimisation from the previous step's result instead of from that
 *                            step's SWR embedding (the reference maps and the latent change little between steps)
 * @param firstStepIterations the updates at a cold start (the first optimised step)
 * @param firstStepRule       the step rule there
 * @param iterations          each warm-started step's share of the window's updates
 * @param rule                the step rule at warm-started steps
 * @param relativeTolerance   an update that lowers the loss by less than this fraction of it ends the step
 * @param maxIterations       the most updates one warm-started step may take, its share and the updates earlier steps
 *                            left unused together, or borrowed from later ones
 * @param continueGain        past its share a step takes one more update while the last one lowered the loss by at
 *                            least this fraction of it ({@code +∞}: never)
 * @param minIterations       the fewest updates a warm step is left with while later steps repay borrowed ones
 */
public record FastItoOptions(boolean warmStart, int firstStepIterations, StepRule firstStepRule, int iterations,
                             StepRule rule, double relativeTolerance, int maxIterations, double continueGain,
                             int minIterations) {

    /**
     * The defaults: a cold first step of the reference's 10 fixed updates, then 4 updates per warm-started step along
     * quasi-Newton directions, ending a step once an update gains less than 2%, its unused updates passed on to later
     * steps up to 10 in one step; a step whose last update still gained 10% goes on while each update does, borrowing
     * from later steps, which keep at least 2 each. Measured on the 48-run grid of benchmarks/ito-grid.md against the
     * matched-state audit they keep every ITO step within the 5% slack at under half of reference mode's work.
     */
    public static final FastItoOptions DEFAULT = new FastItoOptions(true, 10, StepRule.FIXED, 4,
            StepRule.QUASI_NEWTON, 0.02, 10, 0.1, 2);

    public FastItoOptions {
        Objects.requireNonNull(firstStepRule, "firstStepRule");
        Objects.requireNonNull(rule, "rule");
        if (firstStepIterations < 0 || iterations < 0 || maxIterations < iterations) {
            throw new IllegalArgumentException("ITO update counts must be >= 0 and maxIterations >= iterations, got "
                    + firstStepIterations + ", " + iterations + " and " + maxIterations);
        }
        if (!(relativeTolerance >= 0 && relativeTolerance < 1)) {
            throw new IllegalArgumentException("relativeTolerance must be in [0, 1), got " + relativeTolerance);
        }
        if (!(continueGain > relativeTolerance)) {
            throw new IllegalArgumentException("continueGain must be above relativeTolerance (" + relativeTolerance
                    + "), got " + continueGain);
        }
        if (minIterations < 0 || minIterations > iterations) {
            throw new IllegalArgumentException("minIterations must be in [0, iterations = " + iterations + "], got "
                    + minIterations);
        }
    }

    /** Options without borrowing: a step never goes past its share and what earlier steps left unused. */
    public FastItoOptions(boolean warmStart, int firstStepIterations, StepRule firstStepRule, int iterations,
                          StepRule rule, double relativeTolerance, int maxIterations) {
        this(warmStart, firstStepIterations, firstStepRule, iterations, rule, relativeTolerance, maxIterations,
                Double.POSITIVE_INFINITY, iterations);
    }

    /** How the step size evolves within one denoising step's optimisation. */
    public enum StepRule {
        /** The reference's {@code s·√r_i} throughout, going on from an iterate that raised the loss; no early stop. */
        FIXED,
        /** Back to the best iterate with half the step whenever the loss rises. */
        BACKTRACK,
        /**
         * L-BFGS: the first update a gradient step of half {@code s·√r_i}, then directions from the curvature of this
         * step's own iterates (at most {@code 4 s·√r_i |∂L/∂ĉ|} long); back to the best iterate with half the length
         * along its direction whenever the loss rises.
         */
        QUASI_NEWTON
    }
}
