package dev.suppress.core.tensor;

import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * An immutable dense float32 tensor in row-major (C) order: the value that crosses the seams between the
 * pipeline and a backend.
 *
 * <p>The data is copied on the way in ({@link #of}) and on the way out ({@link #toArray()}); {@link #buffer()}
 * gives a read-only view without copying. There is deliberately no arithmetic here: the method's math lives in
 * the classes that need it, on primitive arrays.
 */
public final class Tensor {

    private final float[] data;
    private final int[] shape;

    private Tensor(float[] data, int[] shape) {
        this.data = data;
        this.shape = shape;
    }

    /**
     * Copies {@code data} into a new tensor of the given shape.
     *
     * @param data  row-major values, not modified
     * @param shape the dimensions; their product must equal {@code data.length}
     * @throws IllegalArgumentException when a dimension is negative or the sizes do not match
     */
    public static Tensor of(float[] data, int... shape) {
        int[] checkedShape = checkShape(shape);
        long size = sizeOf(checkedShape);
        if (size != data.length) {
            throw new IllegalArgumentException("Shape " + Arrays.toString(shape) + " holds " + size
                    + " elements but " + data.length + " values were given");
        }
        return new Tensor(data.clone(), checkedShape);
    }

    /** A tensor of zeros. */
    public static Tensor zeros(int... shape) {
        int[] checkedShape = checkShape(shape);
        return new Tensor(new float[Math.toIntExact(sizeOf(checkedShape))], checkedShape);
    }

    /**
     * Takes ownership of {@code data} without copying. Only for code that has just created the array and never
     * touches it again; everything else uses {@link #of}.
     */
    public static Tensor wrapOwned(float[] data, int... shape) {
        int[] checkedShape = checkShape(shape);
        if (sizeOf(checkedShape) != data.length) {
            throw new IllegalArgumentException("Shape " + Arrays.toString(shape) + " holds " + sizeOf(checkedShape)
                    + " elements but " + data.length + " values were given");
        }
        return new Tensor(data, checkedShape);
    }

    private static int[] checkShape(int[] shape) {
        int[] copy = shape.clone();
        for (int dimension : copy) {
            if (dimension < 0) {
                throw new IllegalArgumentException("Negative dimension in shape " + Arrays.toString(shape));
            }
        }
        return copy;
    }

    private static long sizeOf(int[] shape) {
        long size = 1;
        for (int dimension : shape) {
            size = Math.multiplyExact(size, dimension);
        }
        return size;
    }

    /** The dimensions (a copy). */
    public int[] shape() {
        return shape.clone();
    }

    /** The size of dimension {@code axis}; negative axes count from the end. */
    public int dim(int axis) {
        return shape[axis < 0 ? shape.length + axis : axis];
    }

    /** The number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** The number of elements. */
    public int size() {
        return data.length;
    }

    /** The element at a flat row-major index. */
    public float get(int flatIndex) {
        return data[flatIndex];
    }

    /** The values in row-major order (a copy). */
    public float[] toArray() {
        return data.clone();
    }

    /** The values widened to float64 (a new array). */
    public double[] toDoubleArray() {
        double[] out = new double[data.length];
        for (int i = 0; i < data.length; i++) {
            out[i] = data[i];
        }
        return out;
    }

    /** Copies the values into {@code destination} starting at {@code offset}. */
    public void copyTo(float[] destination, int offset) {
        System.arraycopy(data, 0, destination, offset, data.length);
    }

    /** A read-only view of the values, positioned at 0. */
    public FloatBuffer buffer() {
        return FloatBuffer.wrap(data).asReadOnlyBuffer();
    }

    /**
     * The same values under another shape with the same number of elements.
     *
     * @throws IllegalArgumentException when the sizes differ
     */
    public Tensor reshape(int... newShape) {
        int[] checkedShape = checkShape(newShape);
        if (sizeOf(checkedShape) != data.length) {
            throw new IllegalArgumentException("Cannot reshape " + Arrays.toString(shape) + " to "
                    + Arrays.toString(newShape));
        }
        return new Tensor(data, checkedShape);
    }

    /** The same values as a batch of one: {@code [...]} to {@code [1, ...]}, sharing the data. */
    public Tensor asBatchOfOne() {
        int[] withBatch = new int[shape.length + 1];
        withBatch[0] = 1;
        System.arraycopy(shape, 0, withBatch, 1, shape.length);
        return new Tensor(data, withBatch);
    }

    /**
     * Slice {@code index} along the first dimension: a tensor of rank one less.
     *
     * @throws IndexOutOfBoundsException when {@code index} is outside the first dimension
     */
    public Tensor slice(int index) {
        if (shape.length == 0) {
            throw new IllegalStateException("Cannot slice a scalar");
        }
        if (index < 0 || index >= shape[0]) {
            throw new IndexOutOfBoundsException("Index " + index + " outside dimension 0 of " + Arrays.toString(shape));
        }
        int[] rest = Arrays.copyOfRange(shape, 1, shape.length);
        int step = Math.toIntExact(sizeOf(rest));
        return new Tensor(Arrays.copyOfRange(data, index * step, (index + 1) * step), rest);
    }

    /**
     * Element {@code index} of the first dimension as a batch of one: {@code [n, ...]} to {@code [1, ...]}.
     *
     * @throws IndexOutOfBoundsException when {@code index} is outside the first dimension
     */
    public Tensor batchElement(int index) {
        Tensor element = slice(index);
        int[] withBatch = new int[shape.length];
        withBatch[0] = 1;
        System.arraycopy(shape, 1, withBatch, 1, shape.length - 1);
        return new Tensor(element.data, withBatch);
    }

    /**
     * Stacks tensors of equal shape along a new first dimension.
     *
     * @throws IllegalArgumentException when the list is empty or the shapes differ
     */
    public static Tensor stack(Tensor... parts) {
        if (parts.length == 0) {
            throw new IllegalArgumentException("Nothing to stack");
        }
        int[] partShape = parts[0].shape;
        float[] out = new float[Math.multiplyExact(parts.length, parts[0].data.length)];
        for (int i = 0; i < parts.length; i++) {
            if (!Arrays.equals(parts[i].shape, partShape)) {
                throw new IllegalArgumentException("Cannot stack shape " + Arrays.toString(parts[i].shape)
                        + " with " + Arrays.toString(partShape));
            }
            System.arraycopy(parts[i].data, 0, out, i * parts[0].data.length, parts[0].data.length);
        }
        int[] shape = new int[partShape.length + 1];
        shape[0] = parts.length;
        System.arraycopy(partShape, 0, shape, 1, partShape.length);
        return new Tensor(out, shape);
    }

    /**
     * Concatenates tensors along the first dimension; all other dimensions must agree.
     */
    public static Tensor concat(Tensor... parts) {
        if (parts.length == 0) {
            throw new IllegalArgumentException("Nothing to concatenate");
        }
        int[] rest = Arrays.copyOfRange(parts[0].shape, 1, parts[0].shape.length);
        int total = 0;
        int length = 0;
        for (Tensor part : parts) {
            if (part.shape.length == 0 || !Arrays.equals(Arrays.copyOfRange(part.shape, 1, part.shape.length), rest)) {
                throw new IllegalArgumentException("Cannot concatenate shape " + Arrays.toString(part.shape)
                        + " with " + Arrays.toString(parts[0].shape));
            }
            total += part.shape[0];
            length = Math.addExact(length, part.data.length);
        }
        float[] out = new float[length];
        int offset = 0;
        for (Tensor part : parts) {
            System.arraycopy(part.data, 0, out, offset, part.data.length);
            offset += part.data.length;
        }
        int[] shape = parts[0].shape.clone();
        shape[0] = total;
        return new Tensor(out, shape);
    }

    /** True when both tensors have the same shape and bitwise-equal values. */
    @Override
    public boolean equals(Object other) {
        return other instanceof Tensor that && Arrays.equals(shape, that.shape) && Arrays.equals(data, that.data);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}
