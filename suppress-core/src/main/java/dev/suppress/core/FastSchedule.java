package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

/**
 * Fast mode's schedule ({@link Mode#FAST}): before τ the branches are one and are computed once; at an optimised step
 * ITO's reference maps come from the original branch's own conditional pass and ITO is warm-started and adaptive
 * ({@link ItoRunner#fast}); a suppressed-only run stops the original branch after the last ITO step.
 */
final class FastSchedule implements Schedule {

    private final SuppressionRun run;
    private final int lastItoStep;

    FastSchedule(SuppressionRun run, int lastItoStep) {
        this.run = run;
        this.lastItoStep = lastItoStep;
    }

    @Override
    public Outcome step(int stepIndex, Branches from) {
        int timestep = run.timestep(stepIndex);
        Tensor erased = run.erasedEmbedding(stepIndex);
        Tensor unconditional = run.unconditional(stepIndex);
        BranchStepper stepper = run.stepper();
        boolean optimised = run.optimises(stepIndex, erased);
        Branches next;
        if (stepIndex < run.erasureStartStep() && !from.originalStopped() && from.original().equals(from.suppressed())) {
            // before τ the branches are one: compute it once
            next = Branches.shared(stepper.one(timestep, from.original(), unconditional, run.embedding(), null, true,
                    true).latent());
        } else if (optimised) {
            BranchStepper.Step original = stepper.one(timestep, from.original(), unconditional, run.embedding(),
                    run.itoCapture(), true, false);
            erased = run.ito().fast(stepIndex, timestep, from.suppressed(), erased, original.maps());
            next = new Branches(original.latent(), stepper.one(timestep, from.suppressed(), unconditional, erased,
                    null, false, true).latent());
        } else if (from.originalStopped() || (run.suppressedOnly() && stepIndex > lastItoStep)) {
            next = new Branches(null, stepper.one(timestep, from.suppressed(), unconditional, erased, null, false,
                    true).latent());
        } else {
            next = stepper.both(timestep, from, unconditional, run.embedding(), erased);
        }
        return new Outcome(next, erased, optimised);
    }
}
