package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

import java.util.Optional;

/**
 * The CLIP text encoder: token ids to the per-token embedding that conditions the UNet
 * ({@code CLIPTextModel(...).last_hidden_state}, no attention mask, as Stable Diffusion uses it).
 *
 * <p>SDXL's is two encoders: the per-token embedding is both encoders' penultimate hidden states concatenated
 * (2048 wide), and the UNet also takes a {@linkplain #pooled pooled embedding} of the prompt.
 */
public interface TextEncoder extends AutoCloseable {

    /**
     * Encodes one padded prompt.
     *
     * @param tokenIds the padded ids, length {@link #maxLength()} (77); not modified
     * @return the embedding {@code [maxLength, hiddenSize]}
     */
    Tensor encode(int[] tokenIds);

    /**
     * Encodes one padded prompt from {@code clipSkip} layers before the usual output, as diffusers' {@code clip_skip}.
     *
     * @param clipSkip 0 for {@link #encode(int[])}
     * @throws IllegalArgumentException when the encoder has too few layers, or (by default) cannot skip layers
     */
    default Tensor encode(int[] tokenIds, int clipSkip) {
        if (clipSkip != 0) {
            throw new IllegalArgumentException("clipSkip " + clipSkip + ": " + getClass().getSimpleName()
                    + " cannot skip CLIP layers (it only has the text encoder's final output)");
        }
        return encode(tokenIds);
    }

    /**
     * The pooled embedding of one padded prompt that a UNet with {@code addition_embed_type: "text_time"} (SDXL)
     * takes beside the per-token embedding: {@code text_encoder_2}'s final-layer [EOT] state times its
     * {@code text_projection}. Empty for models whose UNet takes none (SD 1.x/2.x).
     *
     * @param tokenIds the padded ids, as for {@link #encode}; not modified
     * @return {@code [P]} (1280 for SDXL base), or empty
     */
    default Optional<Tensor> pooled(int[] tokenIds) {
        return Optional.empty();
    }

    /**
     * diffusers' {@code force_zeros_for_empty_prompt} (SDXL base's {@code model_index.json}): without a negative
     * prompt, the unconditional per-token and pooled embeddings are zeros instead of the encoding of "".
     */
    default boolean zerosWithoutNegativePrompt() {
        return false;
    }

    /** The embedding width M (768 for SD 1.x, 1024 for SD 2.x, 2048 for SDXL). */
    int hiddenSize();

    /** The number of positions (77). */
    default int maxLength() {
        return 77;
    }

    /** Releases native resources. */
    @Override
    void close();
}
