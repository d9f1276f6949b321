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

    /**
     * As {@link #decode(Tensor)}, running {@code beforeEachPass} before each decoder pass (a backend that decodes
     * image by image or tile by tile runs it before each image or tile), so that the caller can stop a long decode
     * between passes by throwing from it; the decoder releases what it holds before the exception leaves.
     *
     * @param latents        as for {@link #decode(Tensor)}; not modified
     * @param beforeEachPass run on the calling thread; what it throws propagates
     */
    default Tensor decode(Tensor latents, Runnable beforeEachPass) {
        beforeEachPass.run();
        return decode(latents);
    }

    /** Releases native resources. */
    @Override
    void close();
}
