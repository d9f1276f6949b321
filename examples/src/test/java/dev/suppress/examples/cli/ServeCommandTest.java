package dev.suppress.examples.cli;

import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress serve}: starts the server on the given model, and refuses bad options with exit code 2. */
@Timeout(300)
class ServeCommandTest {

    private static final Pattern SERVING = Pattern.compile("Serving on (http://\\S+/)");

    @TempDir
    Path out;

    @Test
    void servesTheModelUntilStopped() throws Exception {
        StringWriter stdout = new StringWriter();
        StringWriter stderr = new StringWriter();
        AtomicInteger exitCode = new AtomicInteger(-1);
        Thread serve = new Thread(() -> exitCode.set(SuppressCli.commandLine()
                .setOut(new PrintWriter(stdout, true)).setErr(new PrintWriter(stderr, true))
                .execute("serve", "--model", Fixtures.tinyModel().toString(), "--port", "0", "--out",
                        out.toString())));
        serve.start();
        URI uri = null;
        while (uri == null && serve.isAlive()) {
            Matcher matcher = SERVING.matcher(stdout.toString());
            if (matcher.find()) {
                uri = URI.create(matcher.group(1));
            } else {
                Thread.sleep(50);
            }
        }
        assertTrue(uri != null, "no 'Serving on' line: " + stdout + stderr);
        assertTrue(uri.toString().startsWith("http://127.0.0.1:"), "loopback by default: " + uri);
        HttpResponse<String> model = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri.resolve(
                "/api/v1/model")).timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, model.statusCode());
        assertTrue(model.body().contains("\"backend\":\"djl\""), model.body());
        HttpResponse<String> page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(uri)
                .timeout(Duration.ofSeconds(60)).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(page.body().contains("<title>Suppress</title>"), page.body());

        serve.interrupt();
        serve.join();
        assertEquals(0, exitCode.get(), stdout + "\n" + stderr);
    }

    @Test
    void aBadPortIsBadInput() {
        CliRun run = CliRun.of("serve", "--port", "70000");
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("--port must be in 0..65535, got 70000"), run.transcript());
    }
}
