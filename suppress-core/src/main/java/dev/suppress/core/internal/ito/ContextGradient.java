package dev.suppress.core.internal.ito;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.tensor.Tensor;

/**
 * Where inference-time optimization gets {@code dL/d context} from (DESIGN.md, "gradient capability"): the
 * backend's autograd probe ({@link AutogradContextGradient}) or finite differences of forward passes
 * ({@link FiniteDifferenceContextGradient}). The loss itself is always core's.
 */
public interface ContextGradient {

    /**
     * The objective and its gradient at one context.
     *
     * @param latent    the erased branch's latent {@code [1, 4, h, w]}; not modified
     * @param timestep  the diffusion timestep
     * @param context   the embedding being optimised {@code [77, M]}; not modified
     * @param capture   the maps the objective needs
     * @param objective the attention loss against the reference maps
     * @return the loss at {@code context}, the (possibly approximate) gradient {@code [77, M]} and the maps
     */
    ProbeResult evaluate(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                         AttentionObjective objective);
}
