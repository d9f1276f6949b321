package dev.suppress.onnx;

import dev.suppress.core.attention.AttentionAggregator;
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

    /** Core's aggregation (ALGORITHM.md §4): the mean over the captured layers and the selected heads. */
    static AttentionAggregation core() {
        return (raw, capture) -> new AttentionAggregator(raw.layers(), raw.latentHeight(), raw.latentWidth(),
                capture).aggregate(raw.probabilities());
    }
}
