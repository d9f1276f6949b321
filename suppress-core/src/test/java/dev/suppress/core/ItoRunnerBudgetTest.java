package dev.suppress.core;

import dev.suppress.core.ito.FastItoOptions;
import dev.suppress.core.ito.FastItoOptions.StepRule;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Fast mode's shared budget of warm updates over a window: borrowing never spends more than the window holds. */
class ItoRunnerBudgetTest {

    private static final FastItoOptions BORROWING = new FastItoOptions(true, 10, StepRule.FIXED, 4,
            StepRule.QUASI_NEWTON, 0.02, 10, 0.1, 2);

    @Test
    void withoutBorrowingAStepGetsItsShareAndWhatEarlierStepsLeft() {
        FastItoOptions plain = new FastItoOptions(true, 10, StepRule.FIXED, 4, StepRule.QUASI_NEWTON, 0.02, 10);
        assertArrayEquals(new int[] {4, 4}, ItoRunner.warmBudget(plain, 10, 0, 0, 8));
        // two earlier steps used 1 and 2 of their 4: 5 left over
        assertArrayEquals(new int[] {9, 9}, ItoRunner.warmBudget(plain, 10, 2, 3, 6));
        assertArrayEquals(new int[] {10, 10}, ItoRunner.warmBudget(plain, 10, 2, 0, 6));
    }

    @Test
    void aStepMayBorrowWhatLaterStepsCanRepayAndTheyKeepTheirMinimum() {
        assertArrayEquals(new int[] {4, 10}, ItoRunner.warmBudget(BORROWING, 10, 0, 0, 8));
        // the first warm step borrowed 4: the next repays 2 of it
        assertArrayEquals(new int[] {2, 10}, ItoRunner.warmBudget(BORROWING, 10, 1, 8, 7));
        // the last step has no one to borrow from
        assertArrayEquals(new int[] {4, 4}, ItoRunner.warmBudget(BORROWING, 10, 8, 32, 0));
        // the reference's own count caps everything
        assertArrayEquals(new int[] {4, 6}, ItoRunner.warmBudget(BORROWING, 6, 0, 0, 8));
    }

    @Test
    void anyWayOfSpendingKeepsTheWindowWithinItsUpdatesAndEveryStepWithinItsMinimumAndCap() {
        Random random = new Random(13);
        for (int trial = 0; trial < 2000; trial++) {
            int warmSteps = 1 + random.nextInt(12);
            int spent = 0;
            for (int done = 0; done < warmSteps; done++) {
                int[] budget = ItoRunner.warmBudget(BORROWING, 10, done, spent, warmSteps - 1 - done);
                assertTrue(budget[0] >= Math.min(2, budget[1]) && budget[0] <= budget[1] && budget[1] <= 10,
                        "trial " + trial + " step " + done + ": " + budget[0] + ", " + budget[1]);
                assertTrue(budget[0] >= 2, "every warm step keeps its minimum: " + budget[0]);
                // a step uses anything from nothing to its cap
                spent += random.nextInt(budget[1] + 1);
            }
            assertTrue(spent <= warmSteps * 4, "trial " + trial + ": " + spent + " updates in " + warmSteps);
        }
    }
}
