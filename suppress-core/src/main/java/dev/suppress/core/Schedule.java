package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

/**
 * How a run spends its UNet passes at one denoising step of both branches: a strategy over one
 * {@link BranchStepper}. {@link ReferenceSchedule} is the reference's; {@link FastSchedule} leaves out the work the
 * reference repeats or discards. A new schedule is a new implementation.
 */
interface Schedule {

    /**
     * What a step did.
     *
     * @param next      both branches after the step
     * @param erased    the embedding the suppressed branch's conditional pass used {@code [77, M]}
     * @param optimised whether ITO ran at this step
     */
    record Outcome(Branches next, Tensor erased, boolean optimised) {
    }

    /** Runs step {@code stepIndex} of both branches from {@code from}. */
    Outcome step(int stepIndex, Branches from);
}
