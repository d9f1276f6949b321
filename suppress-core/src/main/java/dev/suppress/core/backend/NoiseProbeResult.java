package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/**
 * What a noise-prediction probe returns.
 *
 * @param loss            the objective's value at the probed context
 * @param contextGradient {@code dL/d context}, {@code [77, M]}
 * @param noisePrediction the UNet output the objective saw, {@code [1, 4, h, w]}
 * @param forwardNanos    wall time of the forward pass, or 0 when not measured
 * @param backwardNanos   wall time of the backward pass, or 0 when not measured
 */
public record NoiseProbeResult(double loss, Tensor contextGradient, Tensor noisePrediction, long forwardNanos,
                               long backwardNanos) {

    /** A result without timings. */
    public NoiseProbeResult(double loss, Tensor contextGradient, Tensor noisePrediction) {
        this(loss, contextGradient, noisePrediction, 0, 0);
    }
}
