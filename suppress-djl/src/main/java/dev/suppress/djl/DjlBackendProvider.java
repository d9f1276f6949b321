package dev.suppress.djl;

import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.DiffusionBackend;

/**
 * The DJL backend for {@link java.util.ServiceLoader}: name {@value DjlDiffusionBackend#NAME}, opening a diffusers
 * Stable Diffusion folder with {@link DjlDiffusionBackend#open}.
 */
public final class DjlBackendProvider implements BackendProvider {

    /** For {@link java.util.ServiceLoader}. */
    public DjlBackendProvider() {
    }

    @Override
    public String name() {
        return DjlDiffusionBackend.NAME;
    }

    /** See {@link DjlDiffusionBackend#open(BackendOptions)}. */
    @Override
    public DiffusionBackend open(BackendOptions options) {
        return DjlDiffusionBackend.open(options);
    }
}
