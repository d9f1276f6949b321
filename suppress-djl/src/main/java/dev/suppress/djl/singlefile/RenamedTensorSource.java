package dev.suppress.djl.singlefile;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsDType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.djl.weights.TensorSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One model part of a single-file checkpoint seen under its diffusers keys: a renaming view over the shared,
 * memory-mapped {@link SafetensorsFile}. Renamed and reshaped tensors and row blocks (OpenCLIP's q, k and v) are
 * slices of the mapped bytes, so nothing is copied until the loader copies each tensor into the model's own memory,
 * as for a folder; only a transposed tensor (OpenCLIP's {@code text_projection}) is rearranged into a new buffer.
 *
 * <p>Keys under the part's prefix that no rule maps keep their checkpoint names in {@link #names()}, so that the
 * loader reports them as unexpected tensors by the names the user's file has. Closing the view leaves the file
 * open: its owner closes it.
 */
final class RenamedTensorSource implements TensorSource {

    private final SafetensorsFile file;
    private final String displayName;
    private final Map<String, LdmTensor> tensors;
    private final Set<String> names;

    /**
     * @param file     the checkpoint, not owned
     * @param partName what the part is, for messages ({@code "UNet (model.diffusion_model.)"})
     */
    RenamedTensorSource(SafetensorsFile file, String partName, LdmKeyMapping.PartMapping mapping) {
        this.file = file;
        this.displayName = file.path().getFileName() + " [" + partName + "]";
        Map<String, LdmTensor> all = new LinkedHashMap<>(mapping.tensors());
        for (String unmapped : mapping.unmapped()) {
            all.put(unmapped, LdmTensor.whole(unmapped, file.info(unmapped).shape()));
        }
        this.tensors = Collections.unmodifiableMap(all);
        this.names = Collections.unmodifiableSet(new LinkedHashSet<>(all.keySet()));
    }

    @Override
    public Path path() {
        return file.path();
    }

    @Override
    public String displayName() {
        return displayName;
    }

    @Override
    public Set<String> names() {
        return names;
    }

    @Override
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** Where {@code name} comes from in the checkpoint. */
    LdmTensor source(String name) {
        LdmTensor tensor = tensors.get(name);
        if (tensor == null) {
            throw new ModelFormatException(file.path(), "No tensor maps to '" + name + "' in " + displayName);
        }
        return tensor;
    }

    @Override
    public TensorInfo info(String name) {
        LdmTensor tensor = source(name);
        TensorInfo source = file.info(tensor.sourceKey());
        long elements = 1;
        for (long dimension : tensor.shape()) {
            elements *= dimension;
        }
        long bytes = elements * source.dtype().byteSize();
        long offset = source.byteOffset() + (tensor.rowCount() < 0 ? 0 : tensor.rowStart() * rowBytes(source));
        return new TensorInfo(name, source.dtype(), tensor.shape(), offset, bytes);
    }

    private static long rowBytes(TensorInfo source) {
        long[] shape = source.shape();
        long row = source.dtype().byteSize();
        for (int i = 1; i < shape.length; i++) {
            row *= shape[i];
        }
        return row;
    }

    @Override
    public ByteBuffer rawBytes(String name) {
        LdmTensor tensor = source(name);
        TensorInfo source = file.info(tensor.sourceKey());
        long expected = info(name).byteLength();
        ByteBuffer bytes = file.rawBytes(tensor.sourceKey());
        if (tensor.rowCount() >= 0) {
            long row = rowBytes(source);
            bytes = bytes.slice(Math.toIntExact(tensor.rowStart() * row), Math.toIntExact(tensor.rowCount() * row))
                    .order(ByteOrder.LITTLE_ENDIAN);
        }
        if (bytes.remaining() != expected) {
            throw new ModelFormatException(file.path(), "Tensor '" + tensor.sourceKey() + "' " + source
                    + " cannot be read as '" + name + "' " + Arrays.toString(tensor.shape()));
        }
        return tensor.transpose() ? transposed(bytes, source.shape(), source.dtype()) : bytes;
    }

    /** The 2-D transpose of a {@code [rows, columns]} tensor's bytes (a new direct buffer). */
    private static ByteBuffer transposed(ByteBuffer bytes, long[] shape, SafetensorsDType dtype) {
        int rows = Math.toIntExact(shape[0]);
        int columns = Math.toIntExact(shape[1]);
        int size = dtype.byteSize();
        ByteBuffer out = ByteBuffer.allocateDirect(bytes.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        for (int column = 0; column < columns; column++) {
            for (int row = 0; row < rows; row++) {
                int from = (row * columns + column) * size;
                for (int b = 0; b < size; b++) {
                    out.put(bytes.get(from + b));
                }
            }
        }
        return out.flip();
    }

    @Override
    public float[] floats(String name) {
        LdmTensor tensor = source(name);
        if (tensor.isWhole()) {
            return file.floats(tensor.sourceKey());
        }
        TensorInfo info = info(name);
        ByteBuffer bytes = rawBytes(name);
        float[] out = new float[Math.toIntExact(info.elementCount())];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (info.dtype()) {
                case F32 -> bytes.getFloat(4 * i);
                case F64 -> (float) bytes.getDouble(8 * i);
                case BF16 -> Float.intBitsToFloat((bytes.getShort(2 * i) & 0xffff) << 16);
                case F16 -> halfToFloat(bytes.getShort(2 * i));
                default -> throw new ModelFormatException(file.path(), "Tensor '" + tensor.sourceKey()
                        + "' has dtype " + info.dtype() + "; only F32, F16, BF16 and F64 are read as float");
            };
        }
        return out;
    }

    /** IEEE 754 binary16 to float32 (exact). */
    private static float halfToFloat(short half) {
        int bits = half & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1f;
        int mantissa = bits & 0x3ff;
        if (exponent == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float value = mantissa * 0x1p-24f;
            return sign == 0 ? value : -value;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /** Leaves the shared file open. */
    @Override
    public void close() {
        // the checkpoint's owner closes the file once every part is loaded
    }

    /** Names for tests and messages: the checkpoint keys the view reads, in order. */
    List<String> sourceKeys() {
        return tensors.values().stream().map(LdmTensor::sourceKey).distinct().toList();
    }
}
