package dev.suppress.core.internal.ito;

import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.ito.FastItoOptions.StepRule;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fast mode's adaptive loop on an ill-conditioned quadratic {@code L(c) = Σ w_k c_k²} standing in for the attention
 * loss (curvatures 0.5 to 25, so a gradient step of 0.02 removes the stiffest direction and crawls along the flattest).
 */
class InferenceTimeOptimizationTest {

    private static final int SIZE = 12;
    private static final double STEP = 0.02;

    private static double weight(int k) {
        return 0.5 * Math.pow(50, k / (double) (SIZE - 1));
    }

    private static double loss(Tensor c) {
        float[] v = c.toArray();
        double sum = 0;
        for (int k = 0; k < v.length; k++) {
            sum += weight(k) * v[k] * v[k];
        }
        return sum;
    }

    private static final ContextGradient QUADRATIC = (latent, timestep, context, capture, objective) -> {
        float[] v = context.toArray();
        float[] g = new float[v.length];
        for (int k = 0; k < v.length; k++) {
            g[k] = (float) (2 * weight(k) * v[k]);
        }
        return new ProbeResult(loss(context), Tensor.wrapOwned(g, context.shape()), null);
    };

    private static Tensor start() {
        float[] v = new float[SIZE];
        java.util.Arrays.fill(v, 1f);
        return Tensor.wrapOwned(v, 3, 4);
    }

    private static InferenceTimeOptimization.Outcome run(StepRule rule, int updates) {
        return new InferenceTimeOptimization(QUADRATIC).optimiseAdaptive(null, 0, start(), null, null, STEP, rule,
                0.0, updates, InferenceTimeOptimizationTest::loss, (iteration, loss, evaluated, embedding) -> true);
    }

    private static double min(double[] values) {
        return java.util.Arrays.stream(values).min().orElseThrow();
    }

    @Test
    void quasiNewtonReachesAFarLowerLossThanBacktrackingInTheSameUpdates() {
        InferenceTimeOptimization.Outcome backtrack = run(StepRule.BACKTRACK, 6);
        InferenceTimeOptimization.Outcome quasiNewton = run(StepRule.QUASI_NEWTON, 6);
        double gradientSteps = min(backtrack.losses());
        double curvature = min(quasiNewton.losses());
        assertTrue(curvature < 0.5 * gradientSteps, "quasi-Newton " + curvature + ", backtracking " + gradientSteps);
        // the kept embedding is the best evaluated iterate
        assertEquals(curvature, loss(quasiNewton.embedding()), 1e-9);
        assertEquals(7, quasiNewton.losses().length, "6 probed updates and the last iterate's loss");
    }

    @Test
    void fixedStepsTakeTheirWholeBudgetThroughARiseAndReturnTheBestIterate() {
        // a step of 0.1 overshoots the stiff directions (factor 1 - 0.2 w): the loss rises
        InferenceTimeOptimization.Outcome fixed = new InferenceTimeOptimization(QUADRATIC).optimiseAdaptive(null, 0,
                start(), null, null, 0.1, StepRule.FIXED, 0.5, 5, InferenceTimeOptimizationTest::loss,
                (iteration, loss, evaluated, embedding) -> true);
        double[] losses = fixed.losses();
        assertEquals(6, losses.length, java.util.Arrays.toString(losses));
        assertTrue(losses[1] > losses[0], java.util.Arrays.toString(losses));
        assertEquals(min(losses), loss(fixed.embedding()), 1e-9);
    }

    @Test
    void quasiNewtonStopsAfterTwoUpdatesThatDoNotLowerTheLoss() {
        // far too long a step: every update from the start raises the loss
        InferenceTimeOptimization.Outcome outcome = new InferenceTimeOptimization(QUADRATIC).optimiseAdaptive(null,
                0, start(), null, null, 10.0, StepRule.QUASI_NEWTON, 0.0, 8, InferenceTimeOptimizationTest::loss,
                (iteration, loss, evaluated, embedding) -> true);
        double[] losses = outcome.losses();
        assertEquals(3, losses.length, java.util.Arrays.toString(losses));
        assertEquals(losses[0], loss(outcome.embedding()), 1e-9);
    }

    @Test
    void aStepStillGainingFastGoesPastItsShareUntilAnUpdateGainsLessThanContinueGain() {
        int[] probes = new int[1];
        ContextGradient counting = (latent, timestep, context, capture, objective) -> {
            probes[0]++;
            return QUADRATIC.evaluate(latent, timestep, context, capture, objective);
        };
        double continueGain = 0.3;
        InferenceTimeOptimization.Outcome outcome = new InferenceTimeOptimization(counting).optimiseAdaptive(null, 0,
                start(), null, null, STEP, StepRule.QUASI_NEWTON, 0.0, 2, 9, continueGain,
                InferenceTimeOptimizationTest::loss, (iteration, loss, evaluated, embedding) -> true);
        double[] losses = outcome.losses();
        String trace = java.util.Arrays.toString(losses);
        int updates = losses.length - 1;
        assertTrue(updates > 2 && updates < 9, "went past the share of 2 and stopped before the cap: " + trace);
        // every update past the share followed one that gained at least continueGain of the loss
        for (int k = 2; k < updates; k++) {
            assertTrue(losses[k - 1] - losses[k] >= continueGain * losses[k - 1], "update " + k + ": " + trace);
        }
        // and the step ended at the first iterate that gained less
        assertTrue(losses[updates - 1] - losses[updates] < continueGain * losses[updates - 1], trace);
        // each updated iterate was probed, and so was the last one (the update before it gained fast)
        assertEquals(updates + 1, probes[0], trace);

        InferenceTimeOptimization.Outcome without = run(StepRule.QUASI_NEWTON, 2);
        assertEquals(3, without.losses().length, "without continuation the share is all a step takes");
        assertTrue(min(losses) < min(without.losses()), trace);
    }

    @Test
    void theCapEndsAStepThatKeepsGaining() {
        InferenceTimeOptimization.Outcome outcome = new InferenceTimeOptimization(QUADRATIC).optimiseAdaptive(null, 0,
                start(), null, null, STEP, StepRule.QUASI_NEWTON, 0.0, 2, 5, 0.001,
                InferenceTimeOptimizationTest::loss, (iteration, loss, evaluated, embedding) -> true);
        assertEquals(6, outcome.losses().length, java.util.Arrays.toString(outcome.losses()));
    }
}
