package dev.suppress.core;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;

/**
 * One run's cancellation point: {@link ProgressListener#cancelRequested()} polled before every network pass the
 * run makes (each UNet evaluation, denoising, attention-only or gradient probe, in the denoising loop, in ITO, in
 * DDIM and null-text inversion; each text-encoder pass; each VAE pass, tile by tile), so that a request made
 * while a pass runs stops the run when that pass returns: at most one UNet evaluation after the request.
 *
 * <p>Nothing native is open when it throws: each backend call releases its memory before it returns.
 */
final class Cancellation {

    private final ProgressListener listener;
    private long passes;

    Cancellation(ProgressListener listener) {
        this.listener = listener;
    }

    /**
     * @param before the pass about to run, for the message ("UNet evaluation", "VAE decode")
     * @throws GenerationCancelledException when the listener asks to cancel
     */
    void check(String before) {
        if (listener.cancelRequested()) {
            throw new GenerationCancelledException("Cancelled before " + before + " (after " + passes
                    + " network passes of this run)");
        }
        passes++;
    }

    /** {@link #check} as a {@code Runnable}, for a backend that makes several passes in one call (tiled VAE). */
    Runnable checkpoint(String before) {
        return () -> check(before);
    }

    /** The denoiser, checked before each evaluation; closing the wrapper does nothing. */
    DenoiserWithAttention guard(DenoiserWithAttention denoiser) {
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                return denoiser.description();
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                return denoise(latents, timestep, contexts, null, capture);
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                          AttentionCapture capture) {
                check("a UNet evaluation");
                return denoiser.denoise(latents, timestep, contexts, pooled, capture);
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                return attention(latents, timestep, contexts, null, capture);
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                           AttentionCapture capture) {
                check("an attention-only UNet pass");
                return denoiser.attention(latents, timestep, contexts, pooled, capture);
            }

            @Override
            public double attentionPassFraction(AttentionCapture capture, int latentSide) {
                return denoiser.attentionPassFraction(capture, latentSide);
            }

            @Override
            public double attentionPassFraction(AttentionCapture capture, int latentHeight, int latentWidth) {
                return denoiser.attentionPassFraction(capture, latentHeight, latentWidth);
            }

            @Override
            public void close() {
                // owned by the backend
            }
        };
    }

    /** The probe, checked before each forward-and-backward pass. */
    GradientProbe guard(GradientProbe probe) {
        return new GradientProbe() {
            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                     AttentionObjective objective, ForwardExtent extent) {
                return probe(latent, timestep, context, null, capture, objective, extent);
            }

            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                     AttentionCapture capture, AttentionObjective objective, ForwardExtent extent) {
                check("a UNet gradient probe");
                return probe.probe(latent, timestep, context, pooled, capture, objective, extent);
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context,
                                                  NoiseObjective objective) {
                return noiseGradient(latent, timestep, context, null, objective);
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                                  NoiseObjective objective) {
                check("a UNet noise-gradient probe");
                return probe.noiseGradient(latent, timestep, context, pooled, objective);
            }
        };
    }
}
