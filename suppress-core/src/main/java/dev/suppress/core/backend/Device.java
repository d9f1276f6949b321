package dev.suppress.core.backend;

import java.util.Locale;

/**
 * Where a backend computes.
 *
 * @param kind  CPU or GPU
 * @param index the GPU ordinal (0 for the CPU)
 */
public record Device(Kind kind, int index) {

    /** The default: the CPU. */
    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        if (kind == null) {
            throw new IllegalArgumentException("Device kind is required");
        }
        if (index < 0 || (kind == Kind.CPU && index != 0)) {
            throw new IllegalArgumentException("Invalid device index " + index + " for " + kind);
        }
    }

    /** CPU or GPU. */
    public enum Kind {
        CPU, GPU
    }

    /** GPU number {@code index}. */
    public static Device gpu(int index) {
        return new Device(Kind.GPU, index);
    }

    /**
     * Parses {@code cpu}, {@code gpu}, {@code gpu:N}, {@code cuda} or {@code cuda:N}.
     *
     * @throws IllegalArgumentException naming the text when it is none of these
     */
    public static Device parse(String text) {
        String value = text.trim().toLowerCase(Locale.ROOT);
        if (value.equals("cpu")) {
            return CPU;
        }
        for (String prefix : new String[] {"gpu", "cuda"}) {
            if (value.equals(prefix)) {
                return gpu(0);
            }
            if (value.startsWith(prefix + ":")) {
                try {
                    return gpu(Integer.parseInt(value.substring(prefix.length() + 1)));
                } catch (NumberFormatException e) {
                    break;
                }
            }
        }
        throw new IllegalArgumentException("Unknown device '" + text + "'; expected cpu, gpu, gpu:N, cuda or cuda:N");
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "gpu:" + index;
    }
}
