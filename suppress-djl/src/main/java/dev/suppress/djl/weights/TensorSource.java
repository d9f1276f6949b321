package dev.suppress.djl.weights;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Set;

/**
 * The tensors one model part is loaded from, by their diffusers/transformers keys: a whole safetensors file of a
 * diffusers folder ({@link #of(SafetensorsFile)}), or a renaming view over part of a single-file checkpoint
 * ({@code dev.suppress.djl.singlefile}). Bytes come from the memory-mapped file; a source copies nothing itself
 * except where a layout needs a transposition.
 */
public interface TensorSource extends AutoCloseable {

    /** The file the bytes come from (for messages). */
    Path path();

    /** How messages name the source ({@code unet/diffusion_pytorch_model.safetensors}). */
    String displayName();

    /** Every key the source offers, in a stable order. */
    Set<String> names();

    /** True when {@code name} is one of {@link #names()}. */
    boolean contains(String name);

    /**
     * The dtype and shape of one tensor (its offsets are those of the underlying file and only informative).
     *
     * @throws dev.suppress.core.io.ModelFormatException when there is no such tensor
     */
    TensorInfo info(String name);

    /** One tensor's bytes, little-endian, in row-major order of {@link #info}'s shape. */
    ByteBuffer rawBytes(String name);

    /** One tensor's values as float32 (a new array). */
    float[] floats(String name);

    /** Releases what the source owns (a view over a shared file leaves the file open). */
    @Override
    void close();

    /**
     * The whole file under its own keys; closing the source closes the file.
     *
     * @param file owned by the returned source
     */
    static TensorSource of(SafetensorsFile file) {
        return new TensorSource() {
            @Override
            public Path path() {
                return file.path();
            }

            @Override
            public String displayName() {
                Path parent = file.path().getParent();
                return (parent == null || parent.getFileName() == null ? "" : parent.getFileName() + "/")
                        + file.path().getFileName();
            }

            @Override
            public Set<String> names() {
                return file.names();
            }

            @Override
            public boolean contains(String name) {
                return file.contains(name);
            }

            @Override
            public TensorInfo info(String name) {
                return file.info(name);
            }

            @Override
            public ByteBuffer rawBytes(String name) {
                return file.rawBytes(name);
            }

            @Override
            public float[] floats(String name) {
                return file.floats(name);
            }

            @Override
            public void close() {
                file.close();
            }
        };
    }
}
