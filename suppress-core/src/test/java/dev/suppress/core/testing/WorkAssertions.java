package dev.suppress.core.testing;

import dev.suppress.core.UNetWork;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checks the pass counts of a {@link UNetWork}; its forward-equivalents depend on measured timings. */
public final class WorkAssertions {

    private WorkAssertions() {
    }

    /** The three pass counts, and forward-equivalents at least the full passes. */
    public static void assertPasses(long noisePredictions, long attentionPasses, long gradientProbes, UNetWork work) {
        assertEquals(noisePredictions + " noise predictions, " + attentionPasses + " attention passes, "
                        + gradientProbes + " probes",
                work.noisePredictions() + " noise predictions, " + work.attentionPasses() + " attention passes, "
                        + work.gradientProbes() + " probes");
        assertTrue(work.forwardEquivalents() >= noisePredictions, "forward-equivalents " + work.forwardEquivalents()
                + " below the " + noisePredictions + " full passes");
    }
}
