package dev.suppress.core;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.internal.schedule.ClassifierFreeGuidance;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.tensor.Tensor;

/**
 * What a branch does at a denoising step, in UNet passes: denoise (guided DDIM step, one branch or both in one
 * batch), and capture its attention maps for ITO or for display. The schedules are built from these.
 */
final class BranchStepper {

    /** A branch's step after one pass, with the conditional pass's captured maps. */
    record Step(Tensor latent, AttentionMaps maps) {
    }

    private final DenoiserWithAttention denoiser;
    private final DdimScheduler scheduler;
    private final double guidanceScale;
    private final AttentionCapture displayCapture;
    private final MapAverage originalMaps;
    private final MapAverage suppressedMaps;
    private final RunClock clock;
    private final PooledEmbeddings pooled;

    BranchStepper(DenoiserWithAttention denoiser, DdimScheduler scheduler, double guidanceScale,
                  AttentionCapture displayCapture, MapAverage originalMaps, MapAverage suppressedMaps,
                  RunClock clock, PooledEmbeddings pooled) {
        this.pooled = pooled;
        this.denoiser = denoiser;
        this.scheduler = scheduler;
        this.guidanceScale = guidanceScale;
        this.displayCapture = displayCapture;
        this.originalMaps = originalMaps;
        this.suppressedMaps = suppressedMaps;
        this.clock = clock;
    }

    /** Both branches in one batch {@code [uncond orig, uncond erased, cond orig, cond erased]} (the reference's). */
    Branches both(int timestep, Branches from, Tensor unconditional, Tensor embedding, Tensor erased) {
        long started = System.nanoTime();
        Tensor original = from.original();
        Tensor suppressed = from.suppressed();
        Tensor latents = Tensor.concat(original, suppressed, original, suppressed);
        Tensor contexts = Tensor.stack(unconditional, unconditional, embedding, erased);
        DenoiserOutput output = denoiser.denoise(latents, timestep, contexts,
                pooled.rows(false, false, true, true), displayCapture);
        float[] cross = output.attention().cross().toArray();
        int perElement = cross.length / 4;
        originalMaps.add(cross, 2, perElement);
        suppressedMaps.add(cross, 3, perElement);
        Tensor next = scheduler.step(ClassifierFreeGuidance.guide(output.noisePrediction(), 2, guidanceScale),
                timestep, Tensor.concat(original, suppressed)).prevSample();
        clock.denoisingNanos += System.nanoTime() - started;
        return new Branches(next.batchElement(0), next.batchElement(1));
    }

    /**
     * One branch: {@code [uncond, cond]} as one batch, the conditional pass's maps captured with {@code capture}
     * (or the display capture when null) and added to the display maps of the branches named.
     */
    Step one(int timestep, Tensor latent, Tensor unconditional, Tensor condition, AttentionCapture capture,
             boolean showsOriginal, boolean showsSuppressed) {
        long started = System.nanoTime();
        DenoiserOutput output = denoiser.denoise(Tensor.concat(latent, latent), timestep,
                Tensor.stack(unconditional, condition), pooled.rows(false, true),
                capture != null ? capture : displayCapture);
        float[] cross = output.attention().cross().toArray();
        int perElement = cross.length / 2;
        if (showsOriginal) {
            originalMaps.add(cross, 1, perElement);
        }
        if (showsSuppressed) {
            suppressedMaps.add(cross, 1, perElement);
        }
        Tensor next = scheduler.step(ClassifierFreeGuidance.guide(output.noisePrediction(), 1, guidanceScale),
                timestep, latent).prevSample();
        clock.denoisingNanos += System.nanoTime() - started;
        return new Step(next, output.attention().element(1));
    }

    /** The maps of one conditional pass on its own (the reference's separate pass for ITO's reference maps). */
    AttentionMaps maps(int timestep, Tensor latent, Tensor condition, AttentionCapture capture) {
        return denoiser.denoise(latent, timestep, condition.asBatchOfOne(), pooled.rows(true), capture).attention();
    }
}
