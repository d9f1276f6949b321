package dev.suppress.core.io;

import java.util.Arrays;

/**
 * One entry of a safetensors header.
 *
 * @param name       the tensor key
 * @param dtype      element type
 * @param shape      dimensions (a copy is kept and returned)
 * @param byteOffset start of the tensor's bytes, relative to the start of the data section
 * @param byteLength number of bytes (equals element count times {@code dtype.byteSize()})
 */
public record TensorInfo(String name, SafetensorsDType dtype, long[] shape, long byteOffset, long byteLength) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The number of elements. */
    public long elementCount() {
        return byteLength / dtype.byteSize();
    }

    /** The shape as ints (every real dimension fits). */
    public int[] intShape() {
        int[] out = new int[shape.length];
        for (int i = 0; i < shape.length; i++) {
            out[i] = Math.toIntExact(shape[i]);
        }
        return out;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof TensorInfo that && name.equals(that.name) && dtype == that.dtype
                && Arrays.equals(shape, that.shape) && byteOffset == that.byteOffset && byteLength == that.byteLength;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
