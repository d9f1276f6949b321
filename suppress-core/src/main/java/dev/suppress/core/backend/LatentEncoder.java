package dev.suppress.core.backend;

import dev.suppress.core.tensor.Tensor;

/** The VAE encoder ({@code AutoencoderKL.encode}), for editing real images. */
public interface LatentEncoder extends AutoCloseable {

    /**
     * Encodes images to latents: the posterior mean times the VAE scaling factor.
     *
     * @param images {@code [batch, 3, H, W]} in {@code [-1, 1]}; not modified
     * @return latents {@code [batch, 4, H/8, W/8]}
     */
    Tensor encode(Tensor images);

    /** Releases native resources. */
    @Override
    void close();
}
