package dev.suppress.core.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class TensorTest {

    @Test
    void copiesOnTheWayInAndOut() {
        float[] values = {1, 2, 3, 4, 5, 6};
        Tensor tensor = Tensor.of(values, 2, 3);
        values[0] = 99;
        assertEquals(1f, tensor.get(0));
        float[] out = tensor.toArray();
        out[1] = 99;
        assertEquals(2f, tensor.get(1));
        int[] shape = tensor.shape();
        shape[0] = 7;
        assertArrayEquals(new int[] {2, 3}, tensor.shape());
        assertThrows(java.nio.ReadOnlyBufferException.class, () -> tensor.buffer().put(0, 1f));
    }

    @Test
    void rejectsShapesThatDoNotFit() {
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[5], 2, 3));
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[0], -1, 0));
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(new float[6], 2, 3).reshape(4, 2));
        assertThrows(ArithmeticException.class, () -> Tensor.zeros(1 << 20, 1 << 20, 1 << 20));
    }

    @Test
    void slicesStacksAndConcatenates() {
        Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        assertEquals(Tensor.of(new float[] {4, 5, 6}, 3), a.slice(1));
        assertEquals(Tensor.of(new float[] {4, 5, 6}, 1, 3), a.batchElement(1));
        assertEquals(Tensor.of(new float[] {4, 5, 6}, 1, 3), Tensor.of(new float[] {4, 5, 6}, 3).asBatchOfOne());
        assertThrows(IndexOutOfBoundsException.class, () -> a.slice(2));
        Tensor stacked = Tensor.stack(a.slice(0), a.slice(1));
        assertEquals(a, stacked);
        Tensor joined = Tensor.concat(a, a.batchElement(0));
        assertArrayEquals(new int[] {3, 3}, joined.shape());
        assertEquals(Tensor.of(new float[] {1, 2, 3}, 1, 3), joined.batchElement(2));
        assertThrows(IllegalArgumentException.class, () -> Tensor.stack(a, a.slice(0)));
        assertThrows(IllegalArgumentException.class, () -> Tensor.concat(a, Tensor.zeros(1, 2)));
    }

    @Test
    void equalityIsByShapeAndValues() {
        Tensor a = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2);
        assertEquals(a, Tensor.of(new float[] {1, 2, 3, 4}, 2, 2));
        assertEquals(a.hashCode(), Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).hashCode());
        assertNotEquals(a, a.reshape(4));
        assertNotEquals(a, Tensor.of(new float[] {1, 2, 3, 5}, 2, 2));
        assertEquals(2, a.dim(-1));
        assertEquals(2, a.rank());
    }
}
