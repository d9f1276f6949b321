package dev.suppress.djl;

import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fast mode against reference mode on the fixture model, for the reference run's request ("a man without glasses",
 * glasses suppressed, seed 2023), suppressed only: at most half the UNet work, and at every ITO step a last loss no
 * higher than reference mode's by more than 5% of the largest reference loss magnitude.
 */
class DjlFastModeTest {

    /** The bound on fast mode's work, as a share of reference mode's. */
    private static final double MAX_WORK_RATIO = 0.5;
    /** The bound on how far fast mode's last loss of a step may exceed reference mode's. */
    private static final double LOSS_SLACK = 0.05;

    @Test
    void doesAtMostHalfTheWorkForLossesAsLow() {
        try (Suppressor suppressor = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel()).build()) {
            SuppressionRequest.Builder request = SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").seed(2023);
            SuppressionResult reference = suppressor.generate(request.mode(Mode.REFERENCE).build());
            SuppressionResult fast = suppressor.generate(request.mode(Mode.FAST).suppressedOnly(true).build());

            double ratio = fast.work().forwardEquivalents() / reference.work().forwardEquivalents();
            assertTrue(ratio <= MAX_WORK_RATIO, "fast " + fast.work() + " vs reference " + reference.work());
            assertFalse(fast.hasOriginal());

            double largest = 0;
            for (SuppressionResult.ItoStep step : reference.itoSteps()) {
                for (double loss : step.losses()) {
                    largest = Math.max(largest, Math.abs(loss));
                }
            }
            assertEquals(reference.itoSteps().size(), fast.itoSteps().size());
            for (int k = 0; k < reference.itoSteps().size(); k++) {
                double allowed = reference.itoSteps().get(k).lastLoss() + LOSS_SLACK * largest;
                double actual = fast.itoSteps().get(k).lastLoss();
                assertTrue(actual <= allowed, "ITO step " + reference.itoSteps().get(k).stepIndex() + ": fast "
                        + actual + ", reference " + reference.itoSteps().get(k).lastLoss() + ", allowed " + allowed);
            }
        }
    }
}
