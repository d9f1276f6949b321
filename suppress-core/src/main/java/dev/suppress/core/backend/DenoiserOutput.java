package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.tensor.Tensor;

/**
 * One UNet evaluation.
 *
 * @param noisePrediction the UNet output {@code [batch, 4, h, w]}
 * @param attention       the maps the capture asked for, or {@code null} when none was asked
 */
public record DenoiserOutput(Tensor noisePrediction, AttentionMaps attention) {
}
