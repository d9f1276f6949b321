package dev.suppress.core.ito;

import dev.suppress.core.ito.FastItoOptions.StepRule;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FastItoOptionsTest {

    @Test
    void refusesNegativeCountsAndToleranceOutsideItsRange() {
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, -1, StepRule.FIXED, 4, StepRule.BACKTRACK, 0.02, 0.05, 10));
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.BACKTRACK, 1.0, 0.05, 10));
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.BACKTRACK, 0.02, Double.NaN, 10));
        assertTrue(nan.getMessage().contains("driftMargin"), nan.getMessage());
        assertThrows(NullPointerException.class,
                () -> new FastItoOptions(true, 10, null, 4, StepRule.BACKTRACK, 0.02, 0.05, 10));
    }

    @Test
    void defaultsColdStartLikeTheReferenceAndCapDriftedStepsAtItsUpdates() {
        FastItoOptions options = FastItoOptions.DEFAULT;
        assertEquals(10, options.firstStepIterations());
        assertEquals(StepRule.FIXED, options.firstStepRule());
        assertEquals(10, options.driftIterations());
        assertTrue(options.iterations() <= options.driftIterations());
    }
}
