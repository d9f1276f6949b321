package dev.suppress.benchmarks;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** What Linux's {@code /proc} says about the machine and this process; empty or -1 where it is unavailable. */
final class Machine {

    private static final Path LOAD_AVERAGE = Path.of("/proc/loadavg");
    private static final Path STATUS = Path.of("/proc/self/status");

    private Machine() {
    }

    /** The 1, 5 and 15 minute load averages, e.g. {@code "2.95 2.24 2.06"}, or {@code "n/a"}. */
    static String loadAverage() {
        try {
            String[] fields = Files.readString(LOAD_AVERAGE).trim().split("\\s+");
            return fields[0] + " " + fields[1] + " " + fields[2];
        } catch (IOException | RuntimeException e) {
            return "n/a";
        }
    }

    /**
     * A field of {@code /proc/self/status} in kB ({@code VmRSS}: resident set; {@code RssAnon}: its anonymous part,
     * which holds the Java heap and every native allocation), or -1 when absent.
     */
    static long statusKilobytes(String field) {
        try {
            List<String> lines = Files.readAllLines(STATUS);
            for (String line : lines) {
                if (line.startsWith(field + ":")) {
                    String[] parts = line.substring(field.length() + 1).trim().split("\\s+");
                    return Long.parseLong(parts[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
