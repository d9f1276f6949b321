package dev.suppress.djl.nn;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NativeMemoryTest {

    @Test
    void readsTheThresholdInBytesAndNamesThePropertyWhenItIsNotOne() {
        assertEquals(NativeMemory.DEFAULT_THRESHOLD, NativeMemory.threshold(null));
        assertEquals(0, NativeMemory.threshold("0"));
        assertEquals(1048576, NativeMemory.threshold("1048576"));
        assertEquals(33554432, NativeMemory.threshold(" 33554432 "));
        for (String bad : new String[] {"1MB", "-1", "4294967296"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> NativeMemory.threshold(bad));
            assertTrue(error.getMessage().contains(NativeMemory.PROPERTY), error.getMessage());
        }
    }

    @Test
    void byDefaultGlibcKeepsItsThresholdAndFreedPagesCanBeHandedBack() {
        TorchRuntime.engine();
        if (System.getProperty(NativeMemory.PROPERTY) == null) {
            assertEquals("glibc default", NativeMemory.configure());
        }
        // malloc_trim found and called through JNA (a wrong symbol or signature throws)
        NativeMemory.releaseFreed();
    }
}
