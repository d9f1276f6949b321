package dev.suppress.core;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.tensor.Tensor;

/**
 * The reference's schedule (ALGORITHM.md §3-§4): at an optimised step a separate full pass of the original branch
 * for ITO's reference maps, then ITO cold from SWR with its fixed updates; every step denoises both branches as one
 * batch of four.
 */
final class ReferenceSchedule implements Schedule {

    private final SuppressionRun run;

    ReferenceSchedule(SuppressionRun run) {
        this.run = run;
    }

    @Override
    public Outcome step(int stepIndex, Branches from) {
        int timestep = run.timestep(stepIndex);
        Tensor erased = run.erasedEmbedding(stepIndex);
        boolean optimised = run.optimises(stepIndex, erased);
        if (optimised) {
            AttentionMaps maps = run.stepper().maps(timestep, from.original(), run.embedding(), run.itoCapture());
            erased = run.ito().reference(stepIndex, timestep, from.suppressed(), erased, maps);
        }
        Branches next = run.stepper().both(timestep, from, run.unconditional(stepIndex), run.embedding(), erased);
        return new Outcome(next, erased, optimised);
    }
}
