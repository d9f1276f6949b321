package dev.suppress.core.attention;

import dev.suppress.core.attention.AttentionMaps;

/**
 * A scalar function of a single sample's aggregated attention maps, with its gradient: the attention loss of
 * ALGORITHM.md §4, computed in core. A gradient probe calls it between its forward and backward pass.
 */
@FunctionalInterface
public interface AttentionObjective {

    /**
     * @param maps the maps of the probed pass, batch 1 ({@code cross [1, res, res, 77]}, {@code self
     *             [1, res, res, res*res]})
     * @return the loss and its gradient with respect to both maps
     */
    ObjectiveGradient evaluate(AttentionMaps maps);
}
