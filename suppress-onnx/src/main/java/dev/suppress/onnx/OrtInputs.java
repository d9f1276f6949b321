package dev.suppress.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;
import java.util.Arrays;
import java.util.Collection;

/**
 * The feeds of one run: reusable direct buffers for the large float inputs, so that a UNet called 100 times per
 * image does not allocate a new native buffer per call (STYLE.md §8); ONNX Runtime wraps a direct buffer without
 * copying it. Owned by one part and used under its lock; the tensors made from it are closed after each run.
 */
final class OrtInputs {

    private FloatBuffer buffer = FloatBuffer.allocate(0);

    /**
     * A float tensor over this object's buffer, holding {@code values} with {@code shape}. Valid until the next
     * call; close it after the run.
     *
     * @param values copied into the buffer; not modified
     */
    OnnxTensor floats(Tensor values, long[] shape) throws OrtException {
        int size = values.size();
        if (buffer.capacity() < size) {
            buffer = ByteBuffer.allocateDirect(Math.multiplyExact(size, Float.BYTES)).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
        }
        buffer.clear();
        buffer.put(values.buffer());
        buffer.flip();
        return OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), buffer, shape);
    }

    /**
     * A tensor of small integers of the element type an input declares (int32 or int64, as exporters differ).
     *
     * @param values not modified
     * @throws IllegalStateException when the declared type is not an integer type
     */
    static OnnxTensor integers(int[] values, TensorInfo declared, long[] shape, String inputName)
            throws OrtException {
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        if (declared.type == OnnxJavaType.INT64) {
            long[] wide = new long[values.length];
            for (int i = 0; i < values.length; i++) {
                wide[i] = values[i];
            }
            return OnnxTensor.createTensor(environment, LongBuffer.wrap(wide), shape);
        }
        if (declared.type == OnnxJavaType.INT32) {
            return OnnxTensor.createTensor(environment, IntBuffer.wrap(values.clone()), shape);
        }
        throw new IllegalStateException("Input '" + inputName + "' is " + declared.type + ", not an integer type");
    }

    /**
     * The timestep input as the export declares it: float32, int64 or int32; rank 0 (a scalar) or rank 1 with
     * one entry per batch element (or exactly one when the export fixed that dimension to 1; the UNet broadcasts
     * it, {@code timesteps.expand(sample.shape[0])} in {@code UNet2DConditionModel.forward}).
     */
    static OnnxTensor timestep(int timestep, int batch, OnnxJavaType declaredType, long[] declaredShape,
                               String inputName) throws OrtException {
        int count = declaredShape.length == 0 ? 1 : declaredShape[0] == 1 ? 1 : batch;
        long[] shape = declaredShape.length == 0 ? new long[0] : new long[] {count};
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        switch (declaredType) {
            case FLOAT: {
                float[] values = new float[count];
                Arrays.fill(values, timestep);
                return OnnxTensor.createTensor(environment, FloatBuffer.wrap(values), shape);
            }
            case DOUBLE: {
                double[] values = new double[count];
                Arrays.fill(values, timestep);
                return OnnxTensor.createTensor(environment, DoubleBuffer.wrap(values), shape);
            }
            case INT64: {
                long[] values = new long[count];
                Arrays.fill(values, timestep);
                return OnnxTensor.createTensor(environment, LongBuffer.wrap(values), shape);
            }
            case INT32: {
                int[] values = new int[count];
                Arrays.fill(values, timestep);
                return OnnxTensor.createTensor(environment, IntBuffer.wrap(values), shape);
            }
            default:
                throw new IllegalStateException("Timestep input '" + inputName + "' has unsupported type "
                        + declaredType + "; expected float32, float64, int32 or int64");
        }
    }

    /** Shape as ONNX Runtime wants it. */
    static long[] shapeOf(Tensor tensor) {
        int[] shape = tensor.shape();
        long[] out = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            out[i] = shape[i];
        }
        return out;
    }

    /** Closes every tensor, even when one fails; the first failure is rethrown with the others suppressed. */
    static void closeAll(Collection<OnnxTensor> tensors) {
        RuntimeException failure = null;
        for (OnnxTensor tensor : tensors) {
            try {
                tensor.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }
}
