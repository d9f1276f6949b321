package dev.suppress.core.io;

import java.nio.file.Path;

/**
 * A model file or folder that cannot be read as what it claims to be: a broken or hostile safetensors header, a
 * missing or malformed {@code config.json}, a tokenizer file that does not parse, a weight with the wrong shape.
 *
 * <p>The message names the file and the offending entry (tensor key, config field) and says what was expected and
 * what was found.
 */
public class ModelFormatException extends RuntimeException {

    private final transient Path file;

    /**
     * @param file    the file at fault, or {@code null} when the problem concerns a folder as a whole
     * @param message what went wrong, what was expected and what was found
     */
    public ModelFormatException(Path file, String message) {
        super(file == null ? message : message + " (in " + file + ")");
        this.file = file;
    }

    /** As {@link #ModelFormatException(Path, String)}, keeping the underlying cause. */
    public ModelFormatException(Path file, String message, Throwable cause) {
        super(file == null ? message : message + " (in " + file + ")", cause);
        this.file = file;
    }

    /** The file at fault, or {@code null} when the problem concerns a folder as a whole. */
    public Path file() {
        return file;
    }
}
