package dev.suppress.core.validation;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Compares a memory estimate with what the JVM heap ({@code -Xmx}) or the machine ({@code MemAvailable} of
 * {@code /proc/meminfo}, where the backends' native tensors live) can give, and refuses with the figures.
 *
 * <p>Set the system property {@value #DISABLE_PROPERTY} to {@code false} to skip the native check (on a machine
 * whose swap you trust, say); the estimates are conservative, and a refusal says by how much they exceed what is
 * available.
 */
public final class MemoryBudget {

    /** {@code -Dsuppress.memoryCheck=false} turns the native-memory refusal off. */
    public static final String DISABLE_PROPERTY = "suppress.memoryCheck";

    private static final Path MEMINFO = Path.of("/proc/meminfo");

    private MemoryBudget() {
    }

    /**
     * Memory the machine can give without swapping: {@code MemAvailable} of {@code /proc/meminfo} on Linux, else the
     * free physical memory the JVM reports.
     */
    public static long availableNativeBytes() {
        Long fromMeminfo = memAvailable(MEMINFO);
        if (fromMeminfo != null) {
            return fromMeminfo;
        }
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getFreeMemorySize();
        }
        return Long.MAX_VALUE;
    }

    /** {@code MemAvailable} in bytes from a meminfo file, or {@code null} when it has none. */
    static Long memAvailable(Path meminfo) {
        if (!Files.isReadable(meminfo)) {
            return null;
        }
        try {
            List<String> lines = Files.readAllLines(meminfo);
            for (String line : lines) {
                if (line.startsWith("MemAvailable:")) {
                    String[] parts = line.substring("MemAvailable:".length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024L;
                }
            }
        } catch (IOException | RuntimeException unreadable) {
            return null;
        }
        return null;
    }

    /** What the heap can still grow to: {@code maxMemory} less what is in use. */
    public static long availableHeapBytes() {
        Runtime runtime = Runtime.getRuntime();
        return runtime.maxMemory() - (runtime.totalMemory() - runtime.freeMemory());
    }

    /**
     * Refuses when {@code neededBytes} of native memory exceed what the machine has.
     *
     * @param what      what needs it, e.g. {@code "Loading unet, text_encoder and vae of /models/sd15 in fp32"}
     * @param breakdown the parts of the estimate, e.g. {@code "weights 4.27 GiB + attention 4.29 GiB"}
     * @throws InsufficientMemoryException with the figures
     */
    public static void requireNative(String what, long neededBytes, String breakdown) {
        if (!Boolean.parseBoolean(System.getProperty(DISABLE_PROPERTY, "true"))) {
            return;
        }
        requireNative(what, neededBytes, breakdown, availableNativeBytes());
    }

    static void requireNative(String what, long neededBytes, String breakdown, long available) {
        if (neededBytes > available) {
            throw new InsufficientMemoryException(what + " needs about " + gib(neededBytes) + " of native memory ("
                    + breakdown + "), but the machine has " + gib(available) + " available (MemAvailable in "
                    + "/proc/meminfo); use a smaller image size or half precision on a GPU, free memory, or set -D"
                    + DISABLE_PROPERTY + "=false to try anyway", neededBytes, available);
        }
    }

    /**
     * Refuses when {@code neededBytes} of Java heap exceed what the heap can still grow to.
     *
     * @throws InsufficientMemoryException with the figures and the {@code -Xmx} to set
     */
    public static void requireHeap(String what, long neededBytes, String breakdown) {
        requireHeap(what, neededBytes, breakdown, availableHeapBytes(), Runtime.getRuntime().maxMemory());
    }

    static void requireHeap(String what, long neededBytes, String breakdown, long available, long max) {
        if (neededBytes > available) {
            throw new InsufficientMemoryException(what + " needs about " + gib(neededBytes) + " of Java heap ("
                    + breakdown + "), but the heap has " + gib(available) + " left of its maximum " + gib(max)
                    + " (-Xmx); raise -Xmx or use a smaller input", neededBytes, available);
        }
    }

    /** Bytes as GiB with two decimals ({@code "4.27 GiB"}), or MiB below one GiB. */
    public static String gib(long bytes) {
        if (bytes < (1L << 30)) {
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        }
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }
}
