package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/**
 * A scalar function of one noise prediction with its gradient: null-text inversion's reconstruction loss
 * (ALGORITHM.md §6), computed in core. A gradient probe calls it between its forward and backward pass.
 */
@FunctionalInterface
public interface NoiseObjective {

    /**
     * @param noisePrediction the UNet output {@code [1, 4, h, w]}
     * @return the loss and {@code dL/d noisePrediction}, of the same shape
     */
    NoiseGradient evaluate(Tensor noisePrediction);

    /**
     * A loss and its gradient with respect to the noise prediction.
     *
     * @param loss          the value
     * @param noiseGradient {@code dL/d noise}, {@code [1, 4, h, w]}
     */
    record NoiseGradient(double loss, Tensor noiseGradient) {
    }
}
