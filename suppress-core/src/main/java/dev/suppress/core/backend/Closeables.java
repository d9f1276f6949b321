package dev.suppress.core.backend;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Closing the parts of a composite (a {@link DiffusionBackend}) so that every part is closed even when one of them
 * throws (STYLE.md §4), for backend implementations.
 */
public final class Closeables {

    private Closeables() {
    }

    /**
     * Closes every non-null part in order.
     *
     * @throws RuntimeException the first failure (a checked one wrapped in {@link IllegalStateException}), with the
     *                          later ones suppressed
     */
    public static void closeAll(AutoCloseable... parts) {
        closeAll(Arrays.asList(parts));
    }

    /** As {@link #closeAll(AutoCloseable...)}. */
    public static void closeAll(List<? extends AutoCloseable> parts) {
        RuntimeException failure = null;
        for (AutoCloseable part : parts) {
            if (part == null) {
                continue;
            }
            try {
                part.close();
            } catch (Exception e) {
                if (failure == null) {
                    failure = e instanceof RuntimeException runtime ? runtime
                            : new IllegalStateException("Closing " + part + " failed", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /**
     * Closes parts already opened when opening a composite failed, adding their close failures to {@code cause}
     * as suppressed, and returns {@code cause} to be rethrown.
     */
    public static <T extends Throwable> T closeAfterFailure(T cause, List<? extends AutoCloseable> opened) {
        Objects.requireNonNull(cause, "cause");
        for (AutoCloseable part : opened) {
            try {
                part.close();
            } catch (Exception closeFailure) {
                cause.addSuppressed(closeFailure);
            }
        }
        return cause;
    }
}
