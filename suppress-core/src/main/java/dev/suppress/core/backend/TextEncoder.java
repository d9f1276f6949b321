package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/**
 * The CLIP text encoder: token ids to the per-token embedding that conditions the UNet
 * ({@code CLIPTextModel(...).last_hidden_state}, no attention mask, as Stable Diffusion uses it).
 */
public interface TextEncoder extends AutoCloseable {

    /**
     * Encodes one padded prompt.
     *
     * @param tokenIds the padded ids, length {@link #maxLength()} (77); not modified
     * @return the embedding {@code [maxLength, hiddenSize]}
     */
    Tensor encode(int[] tokenIds);

    /** The embedding width M (768 for SD 1.x, 1024 for SD 2.x). */
    int hiddenSize();

    /** The number of positions (77). */
    default int maxLength() {
        return 77;
    }

    /** Releases native resources. */
    @Override
    void close();
}
