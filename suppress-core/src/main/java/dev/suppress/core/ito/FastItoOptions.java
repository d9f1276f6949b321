package dev.suppress.core.ito;

import java.util.Objects;

/**
 * How fast mode runs ITO (the reference restarts each step from SWR and takes a fixed number of steps). Fast mode
 * keeps the iterate with the lowest loss at every step.
 *
 * @param warmStart           start each step's optimisation from the previous step's result instead of from that
 *                            step's SWR embedding (the reference maps and the latent change little between steps)
 * @param firstStepIterations gradient updates at the first optimised step (cold start)
 * @param firstStepRule       the step rule there
 * @param iterations          gradient updates at the second optimised step; each later step takes one fewer, down to
 *                            {@code minIterations} (a warm start inherits more of the optimisation the later it is)
 * @param minIterations       the fewest gradient updates at a later step
 * @param rule                the step rule at the later steps
 */
public record FastItoOptions(boolean warmStart, int firstStepIterations, StepRule firstStepRule, int iterations,
                             int minIterations, StepRule rule) {

    /** The defaults, tuned on the fixture model against reference mode's losses (see the README's figures). */
    public static final FastItoOptions DEFAULT = new FastItoOptions(true, 10, StepRule.FIXED, 7, 3,
            StepRule.BACKTRACK);

    public FastItoOptions {
        Objects.requireNonNull(firstStepRule, "firstStepRule");
        Objects.requireNonNull(rule, "rule");
        if (firstStepIterations < 0 || iterations < 0 || minIterations < 0 || minIterations > iterations) {
            throw new IllegalArgumentException("ITO iterations must be >= 0 with minIterations <= iterations, got "
                    + firstStepIterations + ", " + iterations + " and " + minIterations);
        }
    }

    /**
     * Gradient updates at an optimised step: {@code firstStepIterations} at a cold start (the first optimised step,
     * or every step without {@code warmStart}); then {@code iterations}, one fewer at each later step, never below
     * {@code minIterations}.
     *
     * @param warmSteps how many optimised steps this step's start inherits (0 at a cold start)
     */
    public int updates(int warmSteps) {
        if (warmSteps < 0) {
            throw new IllegalArgumentException("warmSteps must be >= 0, got " + warmSteps);
        }
        if (warmSteps == 0 || !warmStart) {
            return firstStepIterations;
        }
        return Math.max(minIterations, iterations - (warmSteps - 1));
    }

    /** How the step size evolves within one denoising step's optimisation. */
    public enum StepRule {
        /** The reference's {@code s·√r_i} throughout, going on from an iterate that raised the loss. */
        FIXED,
        /** Back to the best iterate with half the step whenever the loss rises. */
        BACKTRACK,
        /** As {@link #BACKTRACK}, and 1.5 times the step after every update that lowered the loss. */
        ADAPTIVE
    }
}
