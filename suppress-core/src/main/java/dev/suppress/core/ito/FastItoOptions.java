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
 * @param iterations          gradient updates at each later step
 * @param rule                the step rule there
 */
public record FastItoOptions(boolean warmStart, int firstStepIterations, StepRule firstStepRule, int iterations,
                             StepRule rule) {

    /** The defaults, tuned on the fixture model against reference mode's losses (see the README's figures). */
    public static final FastItoOptions DEFAULT = new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.BACKTRACK);

    public FastItoOptions {
        Objects.requireNonNull(firstStepRule, "firstStepRule");
        Objects.requireNonNull(rule, "rule");
        if (firstStepIterations < 0 || iterations < 0) {
            throw new IllegalArgumentException("ITO iterations must be >= 0, got " + firstStepIterations + " and "
                    + iterations);
        }
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
