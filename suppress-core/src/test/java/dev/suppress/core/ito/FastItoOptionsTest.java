package dev.suppress.core.ito;

import dev.suppress.core.ito.FastItoOptions.StepRule;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FastItoOptionsTest {

    @Test
    void refusesNegativeCountsACapBelowTheShareAndToleranceOutsideItsRange() {
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, -1, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 10));
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 1.0, 10));
        IllegalArgumentException cap = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 3));
        assertTrue(cap.getMessage().contains("maxIterations"), cap.getMessage());
        IllegalArgumentException nan = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, Double.NaN, 10));
        assertTrue(nan.getMessage().contains("relativeTolerance"), nan.getMessage());
        assertThrows(NullPointerException.class,
                () -> new FastItoOptions(true, 10, null, 4, StepRule.QUASI_NEWTON, 0.02, 10));
    }

    @Test
    void refusesAContinueGainNotAboveTheToleranceAndAMinimumAboveTheShare() {
        IllegalArgumentException gain = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 10, 0.02, 2));
        assertTrue(gain.getMessage().contains("continueGain"), gain.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 10, Double.NaN, 2));
        IllegalArgumentException minimum = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 10, 0.1, 5));
        assertTrue(minimum.getMessage().contains("minIterations"), minimum.getMessage());
    }

    @Test
    void defaultsColdStartLikeTheReferenceAndCapAStepAtItsUpdates() {
        FastItoOptions options = FastItoOptions.DEFAULT;
        assertEquals(10, options.firstStepIterations());
        assertEquals(StepRule.FIXED, options.firstStepRule());
        assertEquals(StepRule.QUASI_NEWTON, options.rule());
        assertEquals(10, options.maxIterations());
        assertTrue(options.iterations() <= options.maxIterations());
    }
}
