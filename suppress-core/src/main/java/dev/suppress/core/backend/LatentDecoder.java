package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/** The VAE decoder ({@code AutoencoderKL.decode}). */
public interface LatentDecoder extends AutoCloseable {

    /**
     * Decodes latents to images.
     *
     * @param latents {@code [batch, 4, h, w]} as the UNet sees them; the decoder divides by the VAE scaling
     *                factor itself. Not modified.
     * @return images {@code [batch, 3, 8h, 8w]}, nominally in {@code [-1, 1]} and not clamped
     */
    Tensor decode(Tensor latents);

    /** Releases native resources. */
    @Override
    void close();
}
