package dev.suppress.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;

/** A plain HTTP client of the API, as a user's program would be: {@link HttpClient} and Jackson, nothing else. */
final class ApiClient {

    /** How long one request may take before the test fails instead of hanging (not a performance bound). */
    static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(120);

    static final ObjectMapper JSON = new ObjectMapper();

    private final URI base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    ApiClient(URI base) {
        this.base = base;
    }

    /** A response: status, body parsed as JSON (null when it is not JSON), headers. */
    record Reply(int status, JsonNode json, String text, HttpResponse<byte[]> raw) {
    }

    /** One server-sent event. */
    record Event(String name, JsonNode data) {
    }

    Reply get(String path) {
        return send(HttpRequest.newBuilder(base.resolve(path)).GET());
    }

    Reply delete(String path) {
        return send(HttpRequest.newBuilder(base.resolve(path)).DELETE());
    }

    Reply post(String path, String body) {
        return send(HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    Reply post(String path, JsonNode body) {
        return post(path, body.toString());
    }

    /** {@code multipart/form-data} with a file part {@code image} and a text part {@code options}. */
    Reply postEdit(byte[] image, String fileName, JsonNode options) {
        String boundary = "----suppress-" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        writeAscii(body, "--" + boundary + "\r\nContent-Disposition: form-data; name=\"options\"\r\n"
                + "Content-Type: application/json\r\n\r\n");
        body.writeBytes(options.toString().getBytes(StandardCharsets.UTF_8));
        writeAscii(body, "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\""
                + fileName + "\"\r\nContent-Type: image/png\r\n\r\n");
        body.writeBytes(image);
        writeAscii(body, "\r\n--" + boundary + "--\r\n");
        return send(HttpRequest.newBuilder(base.resolve("/api/v1/jobs"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
    }

    /**
     * Reads {@code /api/v1/jobs/{id}/events} until the stream ends (the server closes it after the job's last
     * event).
     */
    List<Event> events(String id) {
        HttpRequest request = HttpRequest.newBuilder(base.resolve("/api/v1/jobs/" + id + "/events"))
                .header("Accept", "text/event-stream").timeout(REQUEST_TIMEOUT).GET().build();
        try {
            HttpResponse<InputStream> response = http.send(request, HttpResponse.BodyHandlers.ofInputStream());
            if (response.statusCode() != 200) {
                throw new AssertionError("GET events of job " + id + ": status " + response.statusCode());
            }
            List<Event> events = new ArrayList<>();
            try (BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(),
                    StandardCharsets.UTF_8))) {
                String name = null;
                StringBuilder data = new StringBuilder();
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    if (line.startsWith("event:")) {
                        name = line.substring("event:".length()).strip();
                    } else if (line.startsWith("data:")) {
                        data.append(line.substring("data:".length()).strip());
                    } else if (line.isEmpty() && name != null) {
                        events.add(new Event(name, JSON.readTree(data.toString())));
                        name = null;
                        data.setLength(0);
                    }
                }
            }
            return events;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** Follows the job's events to its end and returns its final JSON. */
    JsonNode awaitEnd(String id) {
        List<Event> events = events(id);
        if (events.isEmpty()) {
            throw new AssertionError("The event stream of job " + id + " ended without an event");
        }
        return events.get(events.size() - 1).data();
    }

    static ObjectNode options(String prompt) {
        return JSON.createObjectNode().put("prompt", prompt);
    }

    private Reply send(HttpRequest.Builder builder) {
        try {
            HttpResponse<byte[]> response = http.send(builder.timeout(REQUEST_TIMEOUT).build(),
                    HttpResponse.BodyHandlers.ofByteArray());
            String text = new String(response.body(), StandardCharsets.UTF_8);
            JsonNode json = null;
            if (response.headers().firstValue("Content-Type").orElse("").startsWith("application/json")) {
                json = JSON.readTree(text);
            }
            return new Reply(response.statusCode(), json, text, response);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    private static void writeAscii(ByteArrayOutputStream out, String text) {
        out.writeBytes(text.getBytes(StandardCharsets.US_ASCII));
    }
}
