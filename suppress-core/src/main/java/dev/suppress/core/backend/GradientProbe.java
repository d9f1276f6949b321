package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionObjective;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.tensor.Tensor;

/**
 * The autograd seam (DESIGN.md): one UNet pass with the context requiring gradient, its output handed to core's
 * objective, the objective's gradient back-propagated (a vector-Jacobian product), and {@code dL/d context}
 * returned. Two outputs can be differentiated: the captured attention maps (ITO, ALGORITHM.md §4) and the noise
 * prediction (null-text inversion, §6). The losses stay in core. Backends without autograd do not implement it;
 * core then falls back to finite differences over {@link DenoiserWithAttention#attention}, or refuses null-text
 * inversion.
 *
 * <p>Each call is independent: gradients never accumulate across calls, and native memory of the pass is
 * released before it returns.
 */
public interface GradientProbe {

    /**
     * The gradient of an attention-map objective. The backward pass only runs through what the maps depend on.
     *
     * @param latent    {@code [1, 4, h, w]}; not modified
     * @param timestep  the diffusion timestep
     * @param context   the text embedding being optimised, {@code [77, M]}; not modified
     * @param capture   which maps the objective needs
     * @param objective the loss and its map gradient, called once between the forward and backward pass
     * @param extent    whether the forward pass runs the whole UNet (as the reference) or stops after the last
     *                  captured layer (the same maps for less work)
     * @return the loss, {@code dL/d context}, the maps and the pass timings
     */
    ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                      AttentionObjective objective, ForwardExtent extent);

    /** {@link #probe(Tensor, int, Tensor, AttentionCapture, AttentionObjective, ForwardExtent)} through the captured layers. */
    default ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                              AttentionObjective objective) {
        return probe(latent, timestep, context, capture, objective, ForwardExtent.THROUGH_CAPTURED_LAYERS);
    }

    /**
     * {@link #probe(Tensor, int, Tensor, AttentionCapture, AttentionObjective, ForwardExtent)} for a UNet that also
     * takes a pooled text embedding (SDXL), held fixed: the gradient is with respect to the per-token context only.
     *
     * @param pooled {@code [1, P]}, or {@code null} for a UNet that takes none
     * @throws IllegalArgumentException when {@code pooled} is given to a probe whose UNet takes none, by default
     */
    default ProbeResult probe(Tensor latent, int timestep, Tensor context, Tensor pooled, AttentionCapture capture,
                              AttentionObjective objective, ForwardExtent extent) {
        if (pooled != null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " takes no pooled text embedding");
        }
        return probe(latent, timestep, context, capture, objective, extent);
    }

    /**
     * The gradient of a noise-prediction objective: the full UNet pass, then {@code J^T dL/d noise}.
     *
     * @param latent    {@code [1, 4, h, w]}; not modified
     * @param timestep  the diffusion timestep
     * @param context   the text embedding being optimised, {@code [77, M]}; not modified
     * @param objective the loss and its gradient with respect to the noise prediction {@code [1, 4, h, w]}
     * @return the loss, {@code dL/d context} and the noise prediction
     */
    NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, NoiseObjective objective);

    /**
     * {@link #noiseGradient(Tensor, int, Tensor, NoiseObjective)} with a fixed pooled text embedding {@code [1, P]}
     * (SDXL), or {@code null} for a UNet that takes none.
     *
     * @throws IllegalArgumentException when {@code pooled} is given to a probe whose UNet takes none, by default
     */
    default NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                           NoiseObjective objective) {
        if (pooled != null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " takes no pooled text embedding");
        }
        return noiseGradient(latent, timestep, context, objective);
    }
}
