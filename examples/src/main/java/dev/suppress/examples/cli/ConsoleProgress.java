package dev.suppress.examples.cli;

import dev.suppress.core.ProgressListener;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;

/**
 * Prints one line per denoising step, preceded at an optimised step by one line with its ITO losses, e.g.
 * <pre>
 * step 11  ito: 10 iterations, loss -0.072584 -> -0.153200
 * step 11/50  t=781  optimised     2.4 s
 * </pre>
 */
final class ConsoleProgress implements ProgressListener {

    private final PrintWriter out;
    private final long started = System.nanoTime();
    private double firstLoss;
    /** When the last step (denoising or inversion) ended, or the run started. */
    private long lastEvent = started;
    /** The wall seconds of each denoising step without ITO, in order. */
    private final List<Double> plainSteps = new ArrayList<>();

    /** @param out where the lines go (the command's standard error) */
    ConsoleProgress(PrintWriter out) {
        this.out = out;
    }

    @Override
    public Progress onItoIteration(ItoIteration iteration) {
        if (iteration.iteration() == 0) {
            firstLoss = iteration.loss();
        }
        if (iteration.iteration() == iteration.iterations() - 1) {
            out.printf(Locale.ROOT, "step %d  ito: %d iteration%s, loss %.6f -> %.6f%n", iteration.stepIndex() + 1,
                    iteration.iterations(), iteration.iterations() == 1 ? "" : "s", firstLoss, iteration.loss());
            out.flush();
        }
        return Progress.CONTINUE;
    }

    @Override
    public Progress onDenoisingStep(DenoisingStep step) {
        long now = System.nanoTime();
        if (step.phase() != Phase.OPTIMISED) {
            plainSteps.add(seconds(now - lastEvent));
        }
        lastEvent = now;
        out.printf(Locale.ROOT, "step %d/%d  t=%-4d %-10s %6.1f s%n", step.stepIndex() + 1, step.steps(),
                step.timestep(), step.phase().name().toLowerCase(Locale.ROOT), seconds(System.nanoTime() - started));
        out.flush();
        return Progress.CONTINUE;
    }

    @Override
    public Progress onInversionStep(InversionStep inversion) {
        lastEvent = System.nanoTime();
        out.printf(Locale.ROOT, "inversion %d/%d  %d inner steps, loss %.3g%n", inversion.stepIndex() + 1,
                inversion.steps(), inversion.innerSteps(), inversion.loss());
        out.flush();
        return Progress.CONTINUE;
    }

    /**
     * The median wall seconds of a denoising step without ITO (the first step's includes text encoding), or empty
     * when every step optimised.
     */
    OptionalDouble medianPlainStepSeconds() {
        if (plainSteps.isEmpty()) {
            return OptionalDouble.empty();
        }
        List<Double> sorted = new ArrayList<>(plainSteps);
        Collections.sort(sorted);
        int middle = sorted.size() / 2;
        return OptionalDouble.of(sorted.size() % 2 == 1 ? sorted.get(middle)
                : (sorted.get(middle - 1) + sorted.get(middle)) / 2);
    }

    static double seconds(long nanos) {
        return nanos / 1e9;
    }
}
