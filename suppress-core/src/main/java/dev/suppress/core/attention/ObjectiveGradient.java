package dev.suppress.core.attention;

import dev.suppress.core.tensor.Tensor;

/**
 * A loss value and its gradient with respect to the aggregated maps it was computed from.
 *
 * @param loss       the value
 * @param crossGradient {@code dL/d cross}, the shape of the cross maps ({@code [1, h, w, 77]})
 * @param selfGradient  {@code dL/d self}, the shape of the self maps ({@code [1, h, w, h*w]})
 */
public record ObjectiveGradient(double loss, Tensor crossGradient, Tensor selfGradient) {
}
