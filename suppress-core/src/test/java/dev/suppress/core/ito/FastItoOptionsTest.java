package dev.suppress.core.ito;

import dev.suppress.core.ito.FastItoOptions.StepRule;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FastItoOptionsTest {

    @Test
    void warmStartedStepsTakeOneUpdateFewerEachDownToTheMinimum() {
        FastItoOptions options = new FastItoOptions(true, 10, StepRule.FIXED, 7, 3, StepRule.BACKTRACK);
        int[] expected = {10, 7, 6, 5, 4, 3, 3, 3, 3, 3};
        for (int warmSteps = 0; warmSteps < expected.length; warmSteps++) {
            assertEquals(expected[warmSteps], options.updates(warmSteps), "after " + warmSteps + " optimised steps");
        }
    }

    @Test
    void withoutWarmStartEveryStepTakesTheColdSchedule() {
        FastItoOptions options = new FastItoOptions(false, 10, StepRule.FIXED, 7, 3, StepRule.BACKTRACK);
        for (int warmSteps = 0; warmSteps < 10; warmSteps++) {
            assertEquals(10, options.updates(warmSteps));
        }
    }

    @Test
    void defaultsAreWarmStartedAndFrontLoaded() {
        FastItoOptions defaults = FastItoOptions.DEFAULT;
        assertTrue(defaults.warmStart());
        // the ten steps of the default ITO window: 10 + 7 + 6 + 5 + 4 + 3 * 5 updates
        int total = 0;
        for (int warmSteps = 0; warmSteps < 10; warmSteps++) {
            total += defaults.updates(warmSteps);
        }
        assertEquals(47, total);
    }

    @Test
    void rejectsInconsistentCounts() {
        IllegalArgumentException minAboveStart = assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, 10, StepRule.FIXED, 3, 4, StepRule.BACKTRACK));
        assertTrue(minAboveStart.getMessage().contains("minIterations <= iterations"), minAboveStart.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> new FastItoOptions(true, -1, StepRule.FIXED, 3, 2, StepRule.BACKTRACK));
        assertThrows(NullPointerException.class, () -> new FastItoOptions(true, 10, null, 3, 2, StepRule.BACKTRACK));
        assertThrows(IllegalArgumentException.class, () -> FastItoOptions.DEFAULT.updates(-1));
    }
}
