package dev.suppress.core.ito;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.AttentionObjective;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.tensor.Tensor;

import java.util.Objects;

/** The exact gradient, from a backend's autograd probe: one forward and one backward pass per evaluation. */
public final class AutogradContextGradient implements ContextGradient {

    private final GradientProbe probe;

    /** @param probe the backend's probe */
    public AutogradContextGradient(GradientProbe probe) {
        this.probe = Objects.requireNonNull(probe, "probe");
    }

    @Override
    public ProbeResult evaluate(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                AttentionObjective objective) {
        return probe.probe(latent, timestep, context, capture, objective);
    }
}
