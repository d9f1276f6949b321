package dev.suppress.djl.clip;

import dev.suppress.core.tensor.Tensor;

/**
 * What an SDXL pipeline takes from each of its text encoders for one prompt: one of the encoder's hidden states (the
 * penultimate, concatenated over both encoders into the 2048-wide context) and the pooled output (of
 * {@code text_encoder_2}: the projected [EOT] state, the UNet's {@code text_embeds}).
 *
 * @param hiddenStates {@code [maxLength, hiddenSize]}
 * @param pooled       {@code [projectionDim]} for a {@code CLIPTextModelWithProjection}, else {@code [hiddenSize]}
 * @param poolIndex    the token position the pooled output was taken at
 */
public record PooledTextEncoding(Tensor hiddenStates, Tensor pooled, int poolIndex) {

    public PooledTextEncoding {
        if (hiddenStates == null || pooled == null || hiddenStates.rank() != 2 || pooled.rank() != 1) {
            throw new IllegalArgumentException("Expected hidden states [keys, width] and a pooled vector");
        }
    }
}
