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
 * The pooled text embeddings of one run, for a UNet that takes one beside the per-token context (SDXL,
 * {@link dev.suppress.core.backend.TextEncoder#pooled}); both {@code null} for SD 1.x/2.x, whose passes then go
 * through the seam exactly as before.
 *
 * <p>Suppression keeps the prompt's pooled embedding: SWR and ITO rewrite the per-token context (the negative
 * target's rows and the [EOT] rows, where the method finds the meaning that leaks), and every conditional pass, of
 * the original branch, the suppressed branch and ITO alike, takes the prompt's pooled embedding unchanged. So the
 * two branches differ only in what the method changes, and ITO's gradient is with respect to the context alone.
 *
 * @param prompt        the prompt's {@code [P]}, or {@code null}
 * @param unconditional the unconditional passes' {@code [P]} (the negative prompt's, zeros under
 *                      {@code force_zeros_for_empty_prompt}), or {@code null}
 */
record PooledEmbeddings(Tensor prompt, Tensor unconditional) {

    /** For a UNet that takes no pooled embedding. */
    static final PooledEmbeddings NONE = new PooledEmbeddings(null, null);

    PooledEmbeddings {
        if ((prompt == null) != (unconditional == null)) {
            throw new IllegalArgumentException("Need both pooled embeddings or neither");
        }
    }

    /** Whether the UNet takes a pooled embedding. */
    boolean present() {
        return prompt != null;
    }

    /**
     * One pooled embedding per batch element, {@code true} for a conditional element (the prompt's), {@code false}
     * for an unconditional one: {@code [n, P]}, or {@code null} when the UNet takes none.
     */
    Tensor rows(boolean... conditional) {
        if (!present()) {
            return null;
        }
        Tensor[] rows = new Tensor[conditional.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = conditional[i] ? prompt : unconditional;
        }
        return Tensor.stack(rows);
    }

    /** The prompt's pooled embedding {@code batch} times, or {@code null}. */
    private Tensor promptRows(int batch) {
        if (!present()) {
            return null;
        }
        Tensor[] rows = new Tensor[batch];
        java.util.Arrays.fill(rows, prompt);
        return Tensor.stack(rows);
    }

    /**
     * {@code denoiser} for passes that are all conditional on the prompt (ITO's, the audit's, finite differences'):
     * every batch element gets the prompt's pooled embedding. {@code denoiser} itself when there is none.
     */
    DenoiserWithAttention conditional(DenoiserWithAttention denoiser) {
        if (!present()) {
            return denoiser;
        }
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                return denoiser.description();
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                return denoiser.denoise(latents, timestep, contexts, promptRows(contexts.dim(0)), capture);
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                return denoiser.attention(latents, timestep, contexts, promptRows(contexts.dim(0)), capture);
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

    /** {@code probe} with the prompt's pooled embedding in every pass (ITO's); {@code probe} when there is none. */
    GradientProbe conditional(GradientProbe probe) {
        if (!present()) {
            return probe;
        }
        return new GradientProbe() {
            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                     AttentionObjective objective, ForwardExtent extent) {
                return probe.probe(latent, timestep, context, promptRows(1), capture, objective, extent);
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context,
                                                  NoiseObjective objective) {
                return probe.noiseGradient(latent, timestep, context, promptRows(1), objective);
            }
        };
    }
}
