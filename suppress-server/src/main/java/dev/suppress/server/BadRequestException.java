package dev.suppress.server;

/**
 * A client's mistake, answered with HTTP 400 and a JSON body {@code {"error": message, "field": field}}.
 *
 * <p>{@code field} is the JSON name of the offending field of the request ({@code steps}, {@code suppress},
 * {@code image}, ...), or {@code null} when the mistake is not one field's (a body that is not JSON).
 */
final class BadRequestException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String field;

    BadRequestException(String field, String message) {
        super(message);
        this.field = field;
    }

    BadRequestException(String field, String message, Throwable cause) {
        super(message, cause);
        this.field = field;
    }

    /** The JSON name of the bad field, or {@code null}. */
    String field() {
        return field;
    }
}
