package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.tensor.Tensor;

/**
 * The autograd seam (DESIGN.md): a conditional UNet pass with the context requiring gradient, the captured maps
 * handed to core's objective, the objective's map gradient back-propagated (a vector-Jacobian product), and
 * {@code dL/d context} returned. Backends without autograd do not implement it; core then falls back to finite
 * differences over {@link DenoiserWithAttention#attention}.
 *
 * <p>Each call is independent: gradients never accumulate across calls, and native memory of the pass is
 * released before it returns.
 */
public interface AttentionGradientProbe {

    /**
     * @param latent    {@code [1, 4, h, w]}; not modified
     * @param timestep  the diffusion timestep
     * @param context   the text embedding being optimised, {@code [77, M]}; not modified
     * @param capture   which maps the objective needs
     * @param objective the loss and its map gradient, called once between the forward and backward pass
     * @return the loss, {@code dL/d context} and the maps
     */
    ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                      AttentionObjective objective);
}
