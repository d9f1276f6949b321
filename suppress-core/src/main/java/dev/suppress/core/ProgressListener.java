package dev.suppress.core;

import dev.suppress.core.tensor.Tensor;

/**
 * Sees every denoising step and every ITO iteration of a generation or edit, and can cancel it.
 *
 * <p>Called on the thread that runs the generation. Returning {@link Progress#CANCEL} stops the work before the
 * next UNet evaluation; the call then throws {@link GenerationCancelledException}, with every native resource of
 * the run released.
 *
 * <p>From another thread, cancel through {@link #cancelRequested()}: the run polls it before every network pass
 * (each UNet evaluation, including every ITO probe, every DDIM and null-text inversion pass, each text-encoder
 * pass and each VAE pass or tile), so it stops at most one UNet evaluation after the request, the one that was
 * running when it came.
 */
public interface ProgressListener {

    /** A listener that ignores everything. */
    ProgressListener NONE = new ProgressListener() {
    };

    /** Whether to go on. */
    enum Progress {
        CONTINUE, CANCEL
    }

    /**
     * Whether to stop before the next network pass, polled on the generating thread before every one of them. Any
     * thread may make it true (read a {@code volatile} field or an atomic); once true it should stay true.
     *
     * @return true to stop the run with {@link GenerationCancelledException}
     */
    default boolean cancelRequested() {
        return false;
    }

    /**
     * After each denoising step.
     *
     * @param step the step just finished
     */
    default Progress onDenoisingStep(DenoisingStep step) {
        return Progress.CONTINUE;
    }

    /**
     * After each inference-time optimization iteration.
     *
     * @param iteration the iteration just finished
     */
    default Progress onItoIteration(ItoIteration iteration) {
        return Progress.CONTINUE;
    }

    /**
     * After each null-text inversion step of a real-image edit (ALGORITHM.md §6).
     *
     * @param inversion the inversion step just finished
     */
    default Progress onInversionStep(InversionStep inversion) {
        return Progress.CONTINUE;
    }

    /**
     * A finished denoising step.
     *
     * @param stepIndex 0-based step index {@code i}
     * @param steps     the number of steps S
     * @param timestep  the diffusion timestep of this step
     * @param phase     what the erased branch used at this step
     * @param originalLatent   the original branch's latent after the step {@code [1, 4, h, w]}, or {@code null}
     *                         when that branch no longer runs
     * @param suppressedLatent the suppressed branch's latent after the step {@code [1, 4, h, w]}
     * @param erasedEmbedding  the embedding the suppressed branch's conditional pass used {@code [77, M]}
     */
    record DenoisingStep(int stepIndex, int steps, int timestep, Phase phase, Tensor originalLatent,
                         Tensor suppressedLatent, Tensor erasedEmbedding) {
    }

    /** What the erased branch's embedding was at a step (ALGORITHM.md §3). */
    enum Phase {
        /** Before τ: both branches use the prompt's embedding. */
        SHARED,
        /** Soft-weighted regularization refined by ITO. */
        OPTIMISED,
        /** Soft-weighted regularization only. */
        REGULARISED
    }

    /**
     * A finished ITO iteration: one evaluated embedding and its update, the same contract in every mode.
     *
     * @param stepIndex  the denoising step it belongs to
     * @param iteration  0-based iteration within the step
     * @param iterations the most iterations this step may take (fast mode stops earlier when the loss settles)
     * @param loss       the attention loss at {@code evaluated}
     * @param evaluated  the embedding this iteration evaluated {@code [77, M]}
     * @param embedding  the embedding its update produced {@code [77, M]} ({@code evaluated} itself when it made no
     *                   update: a zero loss, or the last evaluation of a fast-mode step)
     */
    record ItoIteration(int stepIndex, int iteration, int iterations, double loss, Tensor evaluated,
                        Tensor embedding) {
    }

    /**
     * A finished inversion step.
     *
     * @param stepIndex  0-based step
     * @param steps      the number of steps
     * @param innerSteps optimizer steps taken at this step (0 for negative-prompt inversion)
     * @param loss       the last reconstruction loss (NaN when none was computed)
     */
    record InversionStep(int stepIndex, int steps, int innerSteps, double loss) {
    }
}
