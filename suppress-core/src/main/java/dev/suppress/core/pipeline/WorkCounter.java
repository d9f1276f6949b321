package dev.suppress.core.pipeline;

import dev.suppress.core.UNetWork;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.AttentionObjective;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;

/**
 * Counts the UNet work of one run by wrapping the backend's denoiser and probe: every pass the pipeline or a
 * gradient strategy makes goes through these wrappers, so the count cannot drift from what was done.
 */
final class WorkCounter {

    private long noisePredictions;
    private long attentionPasses;
    private long gradientProbes;

    UNetWork snapshot() {
        return new UNetWork(noisePredictions, attentionPasses, gradientProbes);
    }

    /** The denoiser, counted; closing the wrapper does nothing (the backend owns the denoiser). */
    DenoiserWithAttention count(DenoiserWithAttention denoiser) {
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                return denoiser.description();
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                DenoiserOutput output = denoiser.denoise(latents, timestep, contexts, capture);
                noisePredictions += latents.dim(0);
                return output;
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                AttentionMaps maps = denoiser.attention(latents, timestep, contexts, capture);
                attentionPasses += latents.dim(0);
                return maps;
            }

            @Override
            public void close() {
                // owned by the backend
            }
        };
    }

    /** The probe, counted. */
    GradientProbe count(GradientProbe probe) {
        return new GradientProbe() {
            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                     AttentionObjective objective) {
                ProbeResult result = probe.probe(latent, timestep, context, capture, objective);
                gradientProbes += latent.dim(0);
                return result;
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context,
                                                  NoiseObjective objective) {
                NoiseProbeResult result = probe.noiseGradient(latent, timestep, context, objective);
                gradientProbes += latent.dim(0);
                return result;
            }
        };
    }
}
