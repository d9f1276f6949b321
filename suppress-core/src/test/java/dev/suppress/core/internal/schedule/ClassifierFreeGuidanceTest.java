package dev.suppress.core.internal.schedule;

import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ClassifierFreeGuidanceTest {

    @Test
    void guidesEachBranchFromItsUnconditionalAndConditionalHalves() {
        // [u0, u1, c0, c1] for two branches of two values each
        Tensor noise = Tensor.of(new float[] {1, 2, 10, 20, 3, 4, 5, 8}, 4, 2);
        Tensor guided = ClassifierFreeGuidance.guide(noise, 2, 7.5);
        assertArrayEquals(new int[] {2, 2}, guided.shape());
        assertArrayEquals(new float[] {1 + 7.5f * 2, 2 + 7.5f * 2, 10 + 7.5f * -5, 20 + 7.5f * -12},
                guided.toArray());
    }

    @Test
    void separatePredictionsGiveTheSameValues() {
        float[] unconditional = {0.1f, -0.3f};
        float[] conditional = {0.4f, 0.2f};
        float[] expected = ClassifierFreeGuidance.guide(Tensor.of(new float[] {0.1f, -0.3f, 0.4f, 0.2f}, 2, 2), 1,
                5.0).toArray();
        assertArrayEquals(expected, ClassifierFreeGuidance.guide(unconditional, conditional, 5.0));
        assertThrows(IllegalArgumentException.class,
                () -> ClassifierFreeGuidance.guide(new float[2], new float[3], 5.0));
    }
}
