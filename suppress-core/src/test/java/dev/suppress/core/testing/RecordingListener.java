package dev.suppress.core.testing;

import dev.suppress.core.ProgressListener;

import java.util.ArrayList;
import java.util.List;

/** Keeps every step and ITO event of a run, for comparing trajectories with the fixtures. */
public final class RecordingListener implements ProgressListener {

    private final List<DenoisingStep> steps = new ArrayList<>();
    private final List<ItoIteration> iterations = new ArrayList<>();
    private final List<InversionStep> inversion = new ArrayList<>();

    @Override
    public Progress onInversionStep(InversionStep step) {
        inversion.add(step);
        return Progress.CONTINUE;
    }

    public List<InversionStep> inversion() {
        return inversion;
    }

    @Override
    public Progress onDenoisingStep(DenoisingStep step) {
        steps.add(step);
        return Progress.CONTINUE;
    }

    @Override
    public Progress onItoIteration(ItoIteration iteration) {
        iterations.add(iteration);
        return Progress.CONTINUE;
    }

    public List<DenoisingStep> steps() {
        return steps;
    }

    public List<ItoIteration> iterations() {
        return iterations;
    }
}
