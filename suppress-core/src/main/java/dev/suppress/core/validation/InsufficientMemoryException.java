package dev.suppress.core.validation;

/**
 * A model or a request needs more memory than the JVM or the machine has; refused before anything large is
 * allocated, with the estimate, its parts and what is available in the message.
 */
public class InsufficientMemoryException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    private final long neededBytes;
    private final long availableBytes;

    public InsufficientMemoryException(String message, long neededBytes, long availableBytes) {
        super(message);
        this.neededBytes = neededBytes;
        this.availableBytes = availableBytes;
    }

    /** The estimate, in bytes. */
    public long neededBytes() {
        return neededBytes;
    }

    /** What was available, in bytes. */
    public long availableBytes() {
        return availableBytes;
    }
}
