package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionLayerInfo;

import java.util.List;

/**
 * The facts about a backend's UNet that the pipeline needs.
 *
 * @param inChannels        latent channels (4)
 * @param sampleSize        the default latent side from the config (64 for SD 1.x at 512 px)
 * @param crossAttentionDim context width M
 * @param predictionType    what the UNet predicts
 * @param attentionLayers   every attention layer, in forward order
 */
public record UNetDescription(int inChannels, int sampleSize, int crossAttentionDim, PredictionType predictionType,
                              List<AttentionLayerInfo> attentionLayers) {

    public UNetDescription {
        attentionLayers = List.copyOf(attentionLayers);
    }

    /** The UNet's training target, from {@code scheduler_config.json} {@code prediction_type}. */
    public enum PredictionType {
        /** The noise (SD 1.x, SD 2.x base). */
        EPSILON,
        /** The velocity {@code sqrt(a) * eps - sqrt(1-a) * x0} (SD 2.x 768-v). */
        V_PREDICTION
    }
}
