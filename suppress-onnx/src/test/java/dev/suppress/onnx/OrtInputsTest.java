package dev.suppress.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.LongBuffer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OrtInputsTest {

    @Test
    void aFloatTimestepPerBatchElementAsTheDiffusersExportDeclaresIt() throws Exception {
        TensorInfo declared = declared(OnnxJavaType.FLOAT, 2);
        try (OnnxTensor timestep = OrtInputs.timestep(981, 2, declared.type, declared.getShape(), "timestep")) {
            assertEquals(OnnxJavaType.FLOAT, timestep.getInfo().type);
            assertArrayEquals(new long[] {2}, timestep.getInfo().getShape());
            assertArrayEquals(new float[] {981, 981}, timestep.getFloatBuffer().array());
        }
    }

    @Test
    void anInt64ScalarTimestep() throws Exception {
        TensorInfo declared = TensorInfo.constructFromBuffer(LongBuffer.allocate(1), new long[0], OnnxJavaType.INT64);
        try (OnnxTensor timestep = OrtInputs.timestep(501, 2, declared.type, declared.getShape(), "timestep")) {
            assertEquals(OnnxJavaType.INT64, timestep.getInfo().type);
            assertEquals(0, timestep.getInfo().getShape().length);
            assertEquals(501L, timestep.getLongBuffer().get(0));
        }
    }

    @Test
    void oneTimestepWhenTheExportFixedItsLengthToOne() throws Exception {
        try (OnnxTensor timestep = OrtInputs.timestep(1, 2, OnnxJavaType.INT64, new long[] {1}, "t")) {
            assertArrayEquals(new long[] {1}, timestep.getInfo().getShape());
        }
    }

    @Test
    void anUnsupportedTimestepTypeNamesTheInput() throws Exception {
        IllegalStateException error = assertThrows(IllegalStateException.class,
                () -> OrtInputs.timestep(1, 1, OnnxJavaType.STRING, new long[] {1}, "t"));
        assertEquals("Timestep input 't' has unsupported type STRING; expected float32, float64, int32 or int64",
                error.getMessage());
    }

    @Test
    void tokenIdsInTheDeclaredIntegerType() throws Exception {
        int[] ids = {49406, 49407};
        try (OnnxTensor wide = OrtInputs.integers(ids, declared(OnnxJavaType.INT64, 2), new long[] {1, 2}, "ids");
             OnnxTensor narrow = OrtInputs.integers(ids, declared(OnnxJavaType.INT32, 2), new long[] {1, 2},
                     "ids")) {
            assertArrayEquals(new long[] {49406, 49407}, wide.getLongBuffer().array());
            assertArrayEquals(new int[] {49406, 49407}, narrow.getIntBuffer().array());
        }
    }

    @Test
    void reusesItsBufferForEqualOrSmallerInputs() throws Exception {
        OrtInputs inputs = new OrtInputs();
        Tensor four = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
        Tensor two = Tensor.of(new float[] {5, 6}, 2);
        try (OnnxTensor first = inputs.floats(four, new long[] {2, 2})) {
            assertArrayEquals(new float[] {1, 2, 3, 4}, first.getFloatBuffer().array());
        }
        try (OnnxTensor second = inputs.floats(two, new long[] {2})) {
            assertArrayEquals(new float[] {5, 6}, second.getFloatBuffer().array());
        }
    }

    /**
     * A 1-D input declaration of the given length. ONNX Runtime's public API cannot build a symbolic (-1) length;
     * any length other than 1 means "one entry per batch element", as a symbolic one does.
     */
    private static TensorInfo declared(OnnxJavaType type, int length) throws Exception {
        long[] shape = {length};
        return switch (type) {
            case FLOAT -> TensorInfo.constructFromBuffer(FloatBuffer.allocate(length), shape, type);
            case INT64 -> TensorInfo.constructFromBuffer(LongBuffer.allocate(length), shape, type);
            default -> TensorInfo.constructFromBuffer(IntBuffer.allocate(length), shape, type);
        };
    }
}
