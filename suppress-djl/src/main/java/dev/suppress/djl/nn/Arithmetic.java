package dev.suppress.djl.nn;

import java.util.function.Supplier;

/**
 * Counts the multiply-adds of the layers that carry nearly all of a network's arithmetic (convolutions, linear
 * layers, attention products) while a piece of work runs on the current thread: what "a share of a forward pass"
 * means in work accounting.
 */
public final class Arithmetic {

    private static final ThreadLocal<long[]> COUNTER = new ThreadLocal<>();

    private Arithmetic() {
    }

    /** Adds {@code count} multiply-adds to the count in progress on this thread, if any. */
    public static void multiplyAdds(long count) {
        long[] counter = COUNTER.get();
        if (counter != null) {
            counter[0] += count;
        }
    }

    /** The result of counted work. */
    public record Counted<T>(T value, long multiplyAdds) {
    }

    /** Runs {@code work}, counting its multiply-adds (nested counts also count towards the enclosing one). */
    public static <T> Counted<T> count(Supplier<T> work) {
        long[] previous = COUNTER.get();
        long[] counter = {0};
        COUNTER.set(counter);
        try {
            T value = work.get();
            return new Counted<>(value, counter[0]);
        } finally {
            COUNTER.set(previous);
            if (previous != null) {
                previous[0] += counter[0];
            }
        }
    }
}
