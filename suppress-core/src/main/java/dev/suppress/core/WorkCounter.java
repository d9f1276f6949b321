package dev.suppress.core;

import dev.suppress.core.UNetWork;
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
 * Counts the UNet work of one run by wrapping the backend's denoiser and probe: every pass the pipeline or a
 * gradient strategy makes goes through these wrappers, so the count cannot drift from what was done.
 *
 * <p>Forward-equivalents: a full pass costs 1, an attention-only pass the denoiser's
 * {@link DenoiserWithAttention#attentionPassFraction}, a probe its forward share times {@code 1 + backward/forward}
 * with the two times measured by the probe; a probe without timings is counted with the common estimate of a
 * backward pass at twice its forward pass.
 */
final class WorkCounter {

    /** Backward/forward cost when a probe reports no timings: the usual estimate for a backward pass. */
    private static final double UNMEASURED_BACKWARD_RATIO = 2.0;

    private final DenoiserWithAttention denoiser;
    private long noisePredictions;
    private long attentionPasses;
    private long gradientProbes;
    private double forwardEquivalents;

    WorkCounter(DenoiserWithAttention denoiser) {
        this.denoiser = denoiser;
    }

    UNetWork snapshot() {
        return new UNetWork(noisePredictions, attentionPasses, gradientProbes, forwardEquivalents);
    }

    private double fraction(AttentionCapture capture, Tensor latents) {
        return denoiser.attentionPassFraction(capture, latents.dim(2), latents.dim(3));
    }

    private void countProbe(double forwardShare, long forwardNanos, long backwardNanos) {
        double backwardRatio = forwardNanos > 0 && backwardNanos > 0 ? (double) backwardNanos / forwardNanos
                : UNMEASURED_BACKWARD_RATIO;
        gradientProbes++;
        forwardEquivalents += forwardShare * (1 + backwardRatio);
    }

    /** The denoiser, counted; closing the wrapper does nothing (the backend owns the denoiser). */
    DenoiserWithAttention counted() {
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
                DenoiserOutput output = denoiser.denoise(latents, timestep, contexts, pooled, capture);
                noisePredictions += latents.dim(0);
                forwardEquivalents += latents.dim(0);
                return output;
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                return attention(latents, timestep, contexts, null, capture);
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                           AttentionCapture capture) {
                AttentionMaps maps = denoiser.attention(latents, timestep, contexts, pooled, capture);
                attentionPasses += latents.dim(0);
                forwardEquivalents += latents.dim(0) * fraction(capture, latents);
                return maps;
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

    /** The probe, counted. */
    GradientProbe count(GradientProbe probe) {
        return new GradientProbe() {
            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                     AttentionObjective objective, ForwardExtent extent) {
                return probe(latent, timestep, context, null, capture, objective, extent);
            }

            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                     AttentionCapture capture, AttentionObjective objective, ForwardExtent extent) {
                ProbeResult result = probe.probe(latent, timestep, context, pooled, capture, objective, extent);
                countProbe(extent == ForwardExtent.FULL ? 1.0 : fraction(capture, latent), result.forwardNanos(),
                        result.backwardNanos());
                return result;
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context,
                                                  NoiseObjective objective) {
                return noiseGradient(latent, timestep, context, null, objective);
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                                  NoiseObjective objective) {
                NoiseProbeResult result = probe.noiseGradient(latent, timestep, context, pooled, objective);
                countProbe(1.0, result.forwardNanos(), result.backwardNanos());
                return result;
            }
        };
    }
}
