package dev.suppress.onnx;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;

/**
 * Turns the raw Softmax outputs of one UNet evaluation into the maps a capture asked for. The math is core's
 * (attention aggregation, ALGORITHM.md §4); this backend only hands the probabilities over.
 */
@FunctionalInterface
interface AttentionAggregation {

    /**
     * @param raw     the captured layers' probabilities
     * @param capture what to average
     * @return the aggregated maps, with {@code raw} holding the probabilities of {@code capture.rawLayers()}
     */
    AttentionMaps aggregate(RawAttention raw, AttentionCapture capture);

    /**
     * LEAD: the one place where core's aggregator plugs in. Until {@code dev.suppress.core.attention
     * .AttentionAggregator} is merged this refuses, so a capture fails loudly instead of returning made-up maps;
     * replace the body with a call to the aggregator (mapping {@link RawAttention} to its arguments).
     */
    static AttentionAggregation core() {
        return (raw, capture) -> {
            throw new UnsupportedOperationException("Attention aggregation is not wired in yet: "
                    + "dev.suppress.core.attention.AttentionAggregator plugs in at AttentionAggregation.core()");
        };
    }
}
