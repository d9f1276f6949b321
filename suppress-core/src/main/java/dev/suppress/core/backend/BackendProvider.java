package dev.suppress.core.backend;

/**
 * A backend implementation, found with {@link java.util.ServiceLoader} when its module is on the class path
 * ({@code META-INF/services/dev.suppress.core.backend.BackendProvider}).
 */
public interface BackendProvider {

    /** A short lower-case name: {@code djl}, {@code onnx}. */
    String name();

    /**
     * Loads a model.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the folder is not a model this backend can load
     */
    DiffusionBackend open(BackendOptions options);
}
