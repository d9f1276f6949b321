package dev.suppress.djl.singlefile;

import java.util.Arrays;

/**
 * Where one diffusers parameter lies in an LDM checkpoint: a tensor of the file, whole or a block of its rows (the
 * q, k or v third of OpenCLIP's {@code in_proj_weight}), possibly under another shape with the same bytes (a 1×1
 * convolution kernel read as a linear weight) or transposed (OpenCLIP's {@code text_projection}).
 *
 * @param sourceKey the key in the checkpoint
 * @param shape     the shape the diffusers parameter has
 * @param rowStart  first row (along dimension 0) of the source that belongs to this parameter
 * @param rowCount  rows taken, or -1 for the whole tensor
 * @param transpose the source is the 2-D transpose of the parameter
 */
record LdmTensor(String sourceKey, long[] shape, long rowStart, long rowCount, boolean transpose) {

    LdmTensor {
        shape = shape.clone();
    }

    /** The whole source tensor under its own shape. */
    static LdmTensor whole(String sourceKey, long[] shape) {
        return new LdmTensor(sourceKey, shape, 0, -1, false);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** True when the bytes are exactly the source's (no slicing, no transposition). */
    boolean isWhole() {
        return rowCount < 0 && !transpose;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof LdmTensor that && sourceKey.equals(that.sourceKey) && Arrays.equals(shape, that.shape)
                && rowStart == that.rowStart && rowCount == that.rowCount && transpose == that.transpose;
    }

    @Override
    public int hashCode() {
        return sourceKey.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return sourceKey + (rowCount >= 0 ? "[" + rowStart + ":" + (rowStart + rowCount) + "]" : "")
                + (transpose ? ".T" : "") + " as " + Arrays.toString(shape);
    }
}
