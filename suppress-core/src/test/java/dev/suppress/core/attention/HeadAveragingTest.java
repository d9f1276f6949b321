package dev.suppress.core.attention;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class HeadAveragingTest {

    @Test
    void firstHalfKeepsHalfOfAnEvenHeadCount() {
        assertEquals(1, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(2));
        assertEquals(4, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(8));
        assertEquals(10, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(20));
    }

    @Test
    void firstHalfRoundsAnOddHeadCountUp() {
        assertEquals(1, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(1));
        assertEquals(2, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(3));
        assertEquals(3, HeadAveraging.FIRST_HALF_OF_HEADS.keptHeads(5));
    }

    @Test
    void allHeadsKeepsEveryHead() {
        assertEquals(1, HeadAveraging.ALL_HEADS.keptHeads(1));
        assertEquals(5, HeadAveraging.ALL_HEADS.keptHeads(5));
    }

    @Test
    void rejectsANonPositiveHeadCount() {
        assertThrows(IllegalArgumentException.class, () -> HeadAveraging.ALL_HEADS.keptHeads(0));
    }
}
