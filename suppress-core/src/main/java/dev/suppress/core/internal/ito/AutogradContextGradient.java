package dev.suppress.core.internal.ito;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.tensor.Tensor;

import java.util.Objects;

/** The exact gradient, from a backend's autograd probe: one forward and one backward pass per evaluation. */
public final class AutogradContextGradient implements ContextGradient {

    private final GradientProbe probe;
    private final ForwardExtent extent;

    /** @param probe the backend's probe, its forward pass stopping after the captured layers */
    public AutogradContextGradient(GradientProbe probe) {
        this(probe, ForwardExtent.THROUGH_CAPTURED_LAYERS);
    }

    /**
     * @param probe  the backend's probe
     * @param extent how much of the UNet each forward pass runs
     */
    public AutogradContextGradient(GradientProbe probe, ForwardExtent extent) {
        this.probe = Objects.requireNonNull(probe, "probe");
        this.extent = Objects.requireNonNull(extent, "extent");
    }

    @Override
    public ProbeResult evaluate(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                AttentionObjective objective) {
        return probe.probe(latent, timestep, context, capture, objective, extent);
    }
}
