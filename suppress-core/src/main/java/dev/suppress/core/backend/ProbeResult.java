package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.tensor.Tensor;

/**
 * What one gradient probe returns.
 *
 * @param loss            the objective's value at the probed context
 * @param contextGradient {@code dL/d context}, {@code [77, M]}
 * @param maps            the maps the objective saw
 */
public record ProbeResult(double loss, Tensor contextGradient, AttentionMaps maps) {
}
