package dev.suppress.examples.cli;

import dev.suppress.core.ProgressListener;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The step lines and the median step time the CLI prints as {@code seconds-per-step}. */
class ConsoleProgressTest {

    private static ProgressListener.DenoisingStep step(int index, ProgressListener.Phase phase) {
        return new ProgressListener.DenoisingStep(index, 5, 981 - 200 * index, phase, null, null, null);
    }

    @Test
    void theMedianLeavesOutOptimisedSteps() throws InterruptedException {
        StringWriter text = new StringWriter();
        ConsoleProgress progress = new ConsoleProgress(new PrintWriter(text));
        assertTrue(progress.medianPlainStepSeconds().isEmpty(), "no step yet");
        progress.onDenoisingStep(step(0, ProgressListener.Phase.SHARED));
        for (int optimised = 1; optimised <= 3; optimised++) {
            Thread.sleep(200);
            progress.onDenoisingStep(step(optimised, ProgressListener.Phase.OPTIMISED));
        }
        progress.onDenoisingStep(step(4, ProgressListener.Phase.REGULARISED));
        // the plain steps 0 and 4 took almost nothing, the three optimised ones 0.2 s each: counted, they would
        // make the median 0.2 s
        double median = progress.medianPlainStepSeconds().getAsDouble();
        assertTrue(median < 0.1, "median " + median);
        assertEquals(5, text.toString().lines().count(), text.toString());
    }

    @Test
    void everyStepOptimisedHasNoMedian() {
        ConsoleProgress progress = new ConsoleProgress(new PrintWriter(new StringWriter()));
        progress.onDenoisingStep(step(0, ProgressListener.Phase.OPTIMISED));
        assertFalse(progress.medianPlainStepSeconds().isPresent());
    }
}
