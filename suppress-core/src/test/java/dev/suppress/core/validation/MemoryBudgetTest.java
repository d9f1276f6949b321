package dev.suppress.core.validation;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MemoryBudgetTest {

    @TempDir
    Path folder;

    @Test
    void nativeAndHeapRefusalsGiveTheFigures() {
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> MemoryBudget.requireNative("Loading x", 6L << 30, "weights 4 GiB + attention 2 GiB", 3L << 30));
        assertTrue(e.getMessage().contains("needs about 6.00 GiB") && e.getMessage().contains("3.00 GiB available")
                && e.getMessage().contains("weights 4 GiB"), e.getMessage());
        InsufficientMemoryException heap = assertThrows(InsufficientMemoryException.class,
                () -> MemoryBudget.requireHeap("Reading y", 2L << 30, "z", 1L << 29, 1L << 30));
        assertTrue(heap.getMessage().contains("-Xmx") && heap.getMessage().contains("512.0 MiB"),
                heap.getMessage());
    }

    @Test
    void memAvailableIsReadFromMeminfo() throws IOException {
        Path meminfo = folder.resolve("meminfo");
        Files.writeString(meminfo, "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   12345678 kB\n");
        assertEquals(12345678L * 1024, MemoryBudget.memAvailable(meminfo));
        Files.writeString(meminfo, "MemTotal: 1 kB\n");
        assertEquals(null, MemoryBudget.memAvailable(meminfo));
    }
}
