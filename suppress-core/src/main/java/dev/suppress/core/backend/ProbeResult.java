package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.tensor.Tensor;

/**
 * What one gradient probe returns.
 *
 * @param loss            the objective's value at the probed context
 * @param contextGradient {@code dL/d context}, {@code [77, M]}
 * @param maps            the maps the objective saw
 * @param forwardNanos    wall time of the forward pass, or 0 when not measured
 * @param backwardNanos   wall time of the backward pass, or 0 when not measured (work accounting counts the backward
 *                        pass at its measured cost relative to the forward pass)
 */
public record ProbeResult(double loss, Tensor contextGradient, AttentionMaps maps, long forwardNanos,
                          long backwardNanos) {

    /** A result without timings. */
    public ProbeResult(double loss, Tensor contextGradient, AttentionMaps maps) {
        this(loss, contextGradient, maps, 0, 0);
    }
}
