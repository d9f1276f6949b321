package dev.suppress.core.backend;

import java.util.Optional;

/**
 * The model parts of one Stable Diffusion model on one backend. Closing it closes every part, even when one of
 * them fails to close.
 */
public interface DiffusionBackend extends AutoCloseable {

    /** The backend's name, as {@link BackendProvider#name()}. */
    String name();

    /**
     * The floating-point type the networks compute in, never {@link Precision#AUTO}; float32 unless the backend
     * was opened with another.
     */
    default Precision precision() {
        return Precision.FP32;
    }

    /** The CLIP text encoder. */
    TextEncoder textEncoder();

    /** The UNet with attention capture. */
    DenoiserWithAttention denoiser();

    /** The VAE decoder. */
    LatentDecoder decoder();

    /** The VAE encoder, when the model has one (needed for real images only). */
    Optional<LatentEncoder> encoder();

    /** The autograd probe, when the backend can differentiate; otherwise core uses finite differences. */
    Optional<GradientProbe> gradientProbe();

    /** Closes every part. */
    @Override
    void close();
}
