package dev.suppress.core;

import java.util.concurrent.CancellationException;

/** Thrown by a generation or edit that a {@link ProgressListener} cancelled. */
public class GenerationCancelledException extends CancellationException {

    /** @param message where the work stopped */
    public GenerationCancelledException(String message) {
        super(message);
    }
}
