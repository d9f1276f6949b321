package dev.suppress.djl.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.suppress.core.tensor.Tensor;

/** Crossing the seam: core {@link Tensor}s into NDArrays and back, once per call. */
public final class Tensors {

    private Tensors() {
    }

    /**
     * Copies a tensor into a new float32 array of {@code manager} (on its device).
     *
     * @param tensor not modified
     */
    public static NDArray toNDArray(NDManager manager, Tensor tensor) {
        int[] dims = tensor.shape();
        long[] shape = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = dims[i];
        }
        return manager.create(tensor.buffer(), new Shape(shape));
    }

    /**
     * A float32 scalar attached to {@code manager}, to multiply or divide by.
     *
     * <p>Use this instead of NDArray's {@code Number} overloads ({@code mul(2)}, {@code div(count)}) in anything
     * autograd may record: DJL creates a temporary array for the number and closes it right after the operation,
     * while the recorded graph keeps pointing at its memory, so a later backward pass reads freed memory. An array
     * attached to the call's manager lives until the manager closes, after the backward pass.
     */
    public static NDArray scalar(NDManager manager, double value) {
        return manager.create((float) value);
    }

    /** Copies a floating-point array (from any device, any float type, widened to float32) into a new tensor. */
    public static Tensor toTensor(NDArray array) {
        long[] dims = array.getShape().getShape();
        int[] shape = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            shape[i] = Math.toIntExact(dims[i]);
        }
        NDArray onCpu = array.getDevice().isGpu() ? array.toDevice(Device.cpu(), false) : array;
        if (onCpu.getDataType() != DataType.FLOAT32) {
            try (NDArray widened = onCpu.toType(DataType.FLOAT32, false)) {
                return Tensor.wrapOwned(widened.toFloatArray(), shape);
            }
        }
        return Tensor.wrapOwned(onCpu.toFloatArray(), shape);
    }
}
