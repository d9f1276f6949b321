package dev.suppress.core;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ItoWindowTest {

    private static List<Integer> range(int first, int last) {
        return IntStream.rangeClosed(first, last).boxed().toList();
    }

    @Test
    void theDefaultWindowFollowsTheScheduleAndIsTheReferencesAtFiftySteps() {
        assertEquals(range(10, 19), request(50).itoSteps());
        assertEquals(range(5, 9), request(25).itoSteps());
        assertEquals(range(20, 39), request(100).itoSteps());
        assertEquals(List.of(2, 3), request(10).itoSteps());
    }

    @Test
    void explicitStepsAndMaxItoStepStartAtTausStep() {
        assertEquals(range(12, 14), base(50).itoSteps(12, 14).build().itoSteps());
        // the reference's max_iter_to_alter: steps before it, from tau's step (10 of 50) on
        assertEquals(range(10, 14), base(50).maxItoStep(15).build().itoSteps());
        assertEquals(range(10, 24), base(50).itoWindow(ItoWindow.fractions(0.2, 0.5)).build().itoSteps());
    }

    @Test
    void aWindowWithoutAStepNamesBothOptions() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> request(2));
        assertTrue(error.getMessage().contains("--ito-window") && error.getMessage().contains("--ito-steps"),
                error.getMessage());
        // without ITO no window is needed
        assertEquals(List.of(), base(2).itoIterations(0).build().itoSteps());
        assertThrows(IllegalArgumentException.class, () -> ItoWindow.fractions(0.4, 0.2));
        assertThrows(IllegalArgumentException.class, () -> ItoWindow.steps(5, 4));
    }

    private static SuppressionRequest.Builder base(int steps) {
        return SuppressionRequest.builder("a man without glasses").suppress("glasses").steps(steps);
    }

    private static SuppressionRequest request(int steps) {
        return base(steps).build();
    }
}
