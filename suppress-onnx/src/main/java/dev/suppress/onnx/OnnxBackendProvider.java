package dev.suppress.onnx;

import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.DiffusionBackend;

/**
 * Registers the ONNX Runtime backend with {@link java.util.ServiceLoader} under the name {@code onnx}.
 */
public final class OnnxBackendProvider implements BackendProvider {

    /** Used by {@link java.util.ServiceLoader}. */
    public OnnxBackendProvider() {
    }

    @Override
    public String name() {
        return OrtDiffusionBackend.NAME;
    }

    /** {@inheritDoc} See {@link OrtDiffusionBackend#open(BackendOptions)}. */
    @Override
    public DiffusionBackend open(BackendOptions options) {
        return OrtDiffusionBackend.open(options);
    }
}
