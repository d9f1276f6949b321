package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/**
 * What a noise-prediction probe returns.
 *
 * @param loss            the objective's value at the probed context
 * @param contextGradient {@code dL/d context}, {@code [77, M]}
 * @param noisePrediction the UNet output the objective saw, {@code [1, 4, h, w]}
 */
public record NoiseProbeResult(double loss, Tensor contextGradient, Tensor noisePrediction) {
}
