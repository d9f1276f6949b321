package dev.suppress.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The JSON API over real HTTP: the server on an ephemeral loopback port around the fixture model (DJL), a plain
 * {@link java.net.http.HttpClient} as the client.
 *
 * <p>Jobs are kept small (64 px, a few steps) so that each runs in seconds on the tiny model.
 */
@Timeout(600)
class SuppressServerApiTest {

    /** Side of the test images: latent 8×8, the smallest size whose UNet levels all still exist. */
    static final int SIZE = 64;

    static final String PROMPT = "a man without glasses";

    @TempDir
    static Path output;

    static Suppressor suppressor;
    static SuppressServer server;
    static ApiClient client;

    @BeforeAll
    static void start() {
        suppressor = Suppressor.builder().modelFolder(Fixtures.tinyModel()).build();
        server = SuppressServer.builder(suppressor, Fixtures.tinyModel()).port(0).outputFolder(output).start();
        client = new ApiClient(server.uri());
    }

    @AfterAll
    static void stop() {
        try {
            if (server != null) {
                server.close();
            }
        } finally {
            if (suppressor != null) {
                suppressor.close();
            }
        }
    }

    /** A small generation: {@code steps} DDIM steps, ITO from step 1 with two iterations. */
    static ObjectNode smallJob(int steps) {
        ObjectNode options = ApiClient.options(PROMPT).put("steps", steps).put("size", SIZE)
                .put("itoIterations", 2).put("seed", 7);
        options.putArray("suppress").add("glasses");
        return options;
    }

    @Test
    void generatesWithProgressEventsAndServesTheLibrarysImages() throws IOException {
        int steps = 4;
        ApiClient.Reply accepted = client.post("/api/v1/jobs", smallJob(steps));
        assertEquals(202, accepted.status(), accepted.text());
        String id = accepted.json().get("id").asText();
        assertEquals("/api/v1/jobs/" + id, accepted.raw().headers().firstValue("Location").orElseThrow());
        assertEquals("[4]", accepted.json().get("suppressedTokens").toString(), "'glasses' is token 4");
        assertEquals("[]", accepted.json().get("warnings").toString(), "a short prompt: nothing to warn of");

        List<ApiClient.Event> events = client.events(id);
        ApiClient.Event last = events.get(events.size() - 1);
        assertEquals("done", last.name(), "last event: " + last.data());
        List<Integer> stepsSeen = new ArrayList<>();
        boolean sawIto = false;
        for (ApiClient.Event event : events.subList(0, events.size() - 1)) {
            assertEquals("progress", event.name());
            int step = event.data().get("step").asInt();
            if (stepsSeen.isEmpty() || stepsSeen.get(stepsSeen.size() - 1) != step) {
                stepsSeen.add(step);
            }
            sawIto |= !event.data().get("ito").isNull();
        }
        assertTrue(stepsSeen.containsAll(List.of(1, 2, 3, 4)), "steps reported: " + stepsSeen);
        for (int i = 1; i < stepsSeen.size(); i++) {
            assertTrue(stepsSeen.get(i) > stepsSeen.get(i - 1), "steps go forward: " + stepsSeen);
        }
        assertTrue(sawIto, "an ITO iteration was reported");

        JsonNode done = client.get("/api/v1/jobs/" + id).json();
        assertEquals("done", done.get("state").asText());
        assertEquals(1.0, done.get("progress").asDouble());
        assertEquals(steps, done.get("step").asInt());
        assertEquals(steps, done.get("steps").asInt());
        assertTrue(done.get("unetWork").get("forwardEquivalents").asDouble() > 0, done.toString());
        assertTrue(done.get("wallTimeSeconds").asDouble() > 0, done.toString());
        assertEquals(7, done.get("options").get("seed").asInt());
        assertFalse(done.get("itoFinalLosses").isEmpty(), "ITO ran at steps 1..3: " + done);

        JsonNode images = done.get("images");
        for (String name : List.of("original-suppressed", "original", "suppressed", "cross-attention")) {
            assertTrue(images.has(name), "image " + name + " in " + images);
        }
        BufferedImage served = png(images.get("suppressed").asText());
        assertEquals(SIZE, served.getWidth());
        assertEquals(SIZE, served.getHeight());
        assertEquals(SIZE, png(images.get("original").asText()).getWidth());
        assertTrue(png(images.get("cross-attention").asText()).getWidth() > SIZE);

        // the same request through the library directly gives the same pixels: the server ran what was asked
        SuppressionResult direct = suppressor.generate(SuppressionRequest.builder(PROMPT).suppress("glasses")
                .steps(steps).imageSize(SIZE).itoIterations(2).seed(7).build());
        assertArrayEquals(pixels(direct.suppressed()), pixels(served));
        assertArrayEquals(pixels(direct.original()), pixels(png(images.get("original").asText())));
        assertTrue(Files.isRegularFile(output.resolve(id).resolve("suppressed.png")),
                "written under the output folder");
    }

    @Test
    void aSecondJobWaitsInTheQueueAndRunsAfterTheFirst() {
        ApiClient.Reply first = client.post("/api/v1/jobs", smallJob(12));
        ApiClient.Reply second = client.post("/api/v1/jobs", smallJob(2).put("itoIterations", 0));
        assertEquals(202, first.status(), first.text());
        assertEquals(202, second.status(), second.text());
        String firstId = first.json().get("id").asText();
        String secondId = second.json().get("id").asText();
        assertEquals("queued", second.json().get("state").asText(), second.text());
        assertEquals(1, second.json().get("queuePosition").asInt(), "one job ahead of it: " + second.text());

        JsonNode queue = client.get("/api/v1/queue").json();
        assertEquals(List.of(firstId, secondId), strings(queue.get("jobs")), queue.toString());

        List<ApiClient.Event> events = client.events(secondId);
        // queued until the first job ends, then running, then done; never running while the first one ran
        JsonNode firstDone = client.get("/api/v1/jobs/" + firstId).json();
        assertEquals("done", firstDone.get("state").asText(), firstDone.toString());
        boolean running = false;
        for (ApiClient.Event event : events) {
            String state = event.data().get("state").asText();
            if (!running && state.equals("running")) {
                running = true;
            }
            if (!running) {
                assertEquals("queued", state, event.data().toString());
            }
        }
        JsonNode secondDone = events.get(events.size() - 1).data();
        assertEquals("done", secondDone.get("state").asText(), secondDone.toString());
        Instant firstFinished = Instant.parse(firstDone.get("finishedAt").asText());
        Instant secondStarted = Instant.parse(secondDone.get("startedAt").asText());
        assertFalse(secondStarted.isBefore(firstFinished),
                "second started " + secondStarted + ", before the first finished " + firstFinished);
    }

    @Test
    void aFullQueueIs429AndAJobCanBeCancelled() {
        try (SuppressServer small = SuppressServer.builder(suppressor, Fixtures.tinyModel()).port(0)
                .outputFolder(output.resolve("small")).queueCapacity(1).start()) {
            ApiClient smallClient = new ApiClient(small.uri());
            ApiClient.Reply running = smallClient.post("/api/v1/jobs", smallJob(50));
            assertEquals(202, running.status(), running.text());
            ApiClient.Reply refused = smallClient.post("/api/v1/jobs", smallJob(2).put("itoIterations", 0));
            assertEquals(429, refused.status(), refused.text());
            assertTrue(refused.json().get("error").asText().contains("queue is full"), refused.text());

            String id = running.json().get("id").asText();
            ApiClient.Reply cancelled = smallClient.delete("/api/v1/jobs/" + id);
            assertEquals(202, cancelled.status(), cancelled.text());
            JsonNode end = smallClient.awaitEnd(id);
            assertEquals("cancelled", end.get("state").asText(), end.toString());
            assertTrue(end.get("step").asInt() < 50, "stopped before the end: " + end);
            assertEquals(409, smallClient.delete("/api/v1/jobs/" + id).status(), "already finished");
        }
    }

    @Test
    void badOptionsAre400NamingTheField() {
        ObjectNode hat = smallJob(4);
        hat.putArray("suppress").add("hat");
        assertBadRequest(hat, "suppress", "Word 'hat'");
        assertBadRequest(smallJob(4).put("steps", 0), "steps", "steps must be in 1..1000, got 0");
        assertBadRequest(smallJob(4).put("steps", "many"), "steps", "must be an integer");
        assertBadRequest(smallJob(4).put("mode", "slow"), "mode", "'slow' is not one of fast, reference");
        assertBadRequest(smallJob(4).put("stepz", 3), "stepz", "Unknown field 'stepz'");
        assertBadRequest(smallJob(4).put("size", 60), "size", "imageSize must be a multiple of 8");
        assertBadRequest(smallJob(4).put("guidance", "high"), "guidance", "must be a number");
        assertBadRequest(smallJob(4).put("tau", 2.0), "tau", "tau must be in [0, 1]");
        ObjectNode indices = smallJob(4);
        indices.remove("suppress");
        indices.putArray("tokenIndices").add(9);
        assertBadRequest(indices, "tokenIndices", "Token index 9 is not a prompt token");
        ObjectNode noWords = smallJob(4);
        noWords.remove("suppress");
        assertBadRequest(noWords, "suppress", "Name at least one word");
        ObjectNode noPrompt = smallJob(4);
        noPrompt.remove("prompt");
        assertBadRequest(noPrompt, "prompt", "'prompt' is required");

        ApiClient.Reply notJson = client.post("/api/v1/jobs", "{\"prompt\": ");
        assertEquals(400, notJson.status(), notJson.text());
        assertTrue(notJson.json().get("error").asText().startsWith("The body is not JSON"), notJson.text());
    }

    @Test
    void aPromptOverSeventySevenTokensIsAcceptedWithTheTruncationAsAWarning() {
        ObjectNode options = smallJob(2).put("itoIterations", 0).put("prompt", PROMPT + " and a dog".repeat(26));
        ApiClient.Reply accepted = client.post("/api/v1/jobs", options);
        assertEquals(202, accepted.status(), accepted.text());
        JsonNode warnings = accepted.json().get("warnings");
        assertEquals(1, warnings.size(), accepted.text());
        assertTrue(warnings.get(0).asText().contains("removed the last"), warnings.toString());
        JsonNode done = client.awaitEnd(accepted.json().get("id").asText());
        assertEquals("done", done.get("state").asText(), done.toString());
        assertEquals(warnings, done.get("warnings"), "the warning stays with the job");
    }

    @Test
    void tokensListThePromptsTokensWithTheirIndices() {
        ApiClient.Reply reply = client.post("/api/v1/tokens", ApiClient.options("A man with a beard wearing glasses"));
        assertEquals(200, reply.status(), reply.text());
        List<String> texts = new ArrayList<>();
        for (JsonNode token : reply.json().get("tokens")) {
            assertEquals(texts.size() + 1, token.get("index").asInt());
            texts.add(token.get("text").asText());
        }
        assertEquals(List.of("a", "man", "with", "a", "beard", "wearing", "glasses"), texts);
        assertEquals("glasses</w>", reply.json().get("tokens").get(6).get("token").asText());
        assertEquals(0, reply.json().get("truncatedTokens").asInt());
        assertEquals(400, client.post("/api/v1/tokens", "{}").status());
    }

    @Test
    void modelSaysWhatIsLoaded() {
        JsonNode model = client.get("/api/v1/model").json();
        assertEquals("djl", model.get("backend").asText());
        assertEquals("fp32", model.get("precision").asText());
        assertEquals("StableDiffusionPipeline", model.get("pipeline").asText());
        assertEquals(256, model.get("defaultImageSize").asInt(), "latent 32 × VAE factor 8");
        assertEquals(80, model.get("crossAttentionDim").asInt());
        assertEquals("[32,16,8,4]", model.get("attentionResolutions").toString(), "MANIFEST.md: attention at 32, "
                + "16, 8 and 4");
    }

    @Test
    void unknownJobsAndImagesAre404AndNamesCannotLeaveTheOutputFolder() {
        ApiClient.Reply missing = client.get("/api/v1/jobs/no-such-job");
        assertEquals(404, missing.status());
        assertTrue(missing.json().get("error").asText().contains("no-such-job"), missing.text());
        assertEquals(404, client.get("/api/v1/jobs/no-such-job/events").status());

        String id = client.post("/api/v1/jobs", smallJob(1).put("itoIterations", 0)).json().get("id").asText();
        client.awaitEnd(id);
        assertEquals(200, client.get("/api/v1/jobs/" + id + "/images/suppressed.png").status());
        assertEquals(404, client.get("/api/v1/jobs/" + id + "/images/other.png").status());
        assertEquals(404, client.get("/api/v1/jobs/" + id + "/images/..%2F..%2Fpom.xml").status());
        assertEquals(404, client.get("/api/v1/jobs/..%2F" + id + "/images/suppressed.png").status());
    }

    @Test
    void editsAnUploadedPhoto() throws IOException {
        byte[] photo = Files.readAllBytes(Fixtures.path("real/input.png"));
        ObjectNode options = ApiClient.options("a man with glasses").put("inversion", "npi").put("steps", 3)
                .put("size", SIZE).put("itoIterations", 1);
        options.putArray("suppress").add("glasses");
        ApiClient.Reply accepted = client.postEdit(photo, "input.png", options);
        assertEquals(202, accepted.status(), accepted.text());
        assertEquals("edit", accepted.json().get("kind").asText());
        JsonNode done = client.awaitEnd(accepted.json().get("id").asText());
        assertEquals("done", done.get("state").asText(), done.toString());
        for (String name : List.of("input-reconstruction-suppressed", "input", "reconstruction", "suppressed",
                "vae-reconstruction", "cross-attention")) {
            assertTrue(done.get("images").has(name), name + " in " + done.get("images"));
        }
        assertEquals(SIZE, png(done.get("images").get("input").asText()).getWidth());

        ApiClient.Reply notAnImage = client.postEdit("not a picture".getBytes(), "notes.txt", options);
        assertEquals(400, notAnImage.status(), notAnImage.text());
        assertEquals("image", notAnImage.json().get("field").asText());
        ApiClient.Reply withSeed = client.postEdit(photo, "input.png", options.deepCopy().put("seed", 1));
        assertEquals("seed", withSeed.json().get("field").asText(), withSeed.text());
    }

    @Test
    void aPhotoOverTheUploadLimitIsRefusedNamingTheImage() throws IOException {
        byte[] photo = Files.readAllBytes(Fixtures.path("real/input.png"));
        try (SuppressServer small = SuppressServer.builder(suppressor, Fixtures.tinyModel()).port(0)
                .outputFolder(output.resolve("limited")).maxUploadBytes(photo.length / 2).start()) {
            ObjectNode options = ApiClient.options("a man with glasses").put("inversion", "npi");
            options.putArray("suppress").add("glasses");
            ApiClient.Reply refused = new ApiClient(small.uri()).postEdit(photo, "input.png", options);
            assertEquals(400, refused.status(), refused.text());
            assertEquals("image", refused.json().get("field").asText(), refused.text());
            assertTrue(refused.json().get("error").asText().contains("at most " + photo.length / 2 + " bytes"),
                    refused.text());
            assertEquals(List.of(), strings(new ApiClient(small.uri()).get("/api/v1/queue").json().get("jobs")));
        }
    }

    @Test
    void widthAndHeightMakeANonSquareImage() throws IOException {
        ObjectNode options = smallJob(2).put("itoIterations", 0);
        options.remove("size");
        options.put("width", 2 * SIZE).put("height", SIZE);
        ApiClient.Reply accepted = client.post("/api/v1/jobs", options);
        assertEquals(202, accepted.status(), accepted.text());
        String id = accepted.json().get("id").asText();
        List<ApiClient.Event> events = client.events(id);
        assertEquals("done", events.get(events.size() - 1).name(), events.get(events.size() - 1).data().toString());
        JsonNode done = client.get("/api/v1/jobs/" + id).json();
        assertEquals(2 * SIZE, done.get("options").get("width").asInt(), done.toString());
        for (String name : List.of("suppressed", "original")) {
            BufferedImage served = png(done.get("images").get(name).asText());
            assertEquals(2 * SIZE, served.getWidth(), name);
            assertEquals(SIZE, served.getHeight(), name);
        }
    }

    @Test
    void clipSkipReachesTheTextEncoderAndABadOneIsA400NamingIt() throws IOException {
        int[][] originals = new int[2][];
        for (int skip = 0; skip < 2; skip++) {
            ObjectNode options = smallJob(2).put("itoIterations", 0).put("clipSkip", skip);
            ApiClient.Reply accepted = client.post("/api/v1/jobs", options);
            assertEquals(202, accepted.status(), accepted.text());
            String id = accepted.json().get("id").asText();
            List<ApiClient.Event> events = client.events(id);
            assertEquals("done", events.get(events.size() - 1).name(), events.get(events.size() - 1).data().toString());
            JsonNode done = client.get("/api/v1/jobs/" + id).json();
            assertEquals(skip, done.get("options").get("clipSkip").asInt(), done.toString());
            BufferedImage original = png(done.get("images").get("original").asText());
            originals[skip] = original.getRGB(0, 0, original.getWidth(), original.getHeight(), null, 0,
                    original.getWidth());
        }
        // the original branch is the prompt's plain generation: skipping a CLIP layer changes its embedding
        org.junit.jupiter.api.Assertions.assertFalse(java.util.Arrays.equals(originals[0], originals[1]));
        assertBadRequest(smallJob(2).put("clipSkip", -1), "clipSkip", "clipSkip must be in 0..");
        assertBadRequest(smallJob(2).put("clipSkip", "two"), "clipSkip", "must be an integer");
    }

    @Test
    void badWidthsAndHeightsAre400NamingTheField() {
        ObjectNode wide = smallJob(4);
        wide.remove("size");
        assertBadRequest(wide.deepCopy().put("width", 60), "width", "width must be a multiple of 8");
        assertBadRequest(wide.deepCopy().put("height", -8), "height", "height must be a multiple of 8");
        assertBadRequest(wide.deepCopy().put("width", "wide"), "width", "must be an integer");
        // a multiple of 8 that the UNet's levels cannot halve: the model's check names the side
        assertBadRequest(wide.deepCopy().put("width", SIZE).put("height", SIZE + 8), "height", "height 72");
        assertBadRequest(smallJob(4).put("width", 2 * SIZE), "size", "either 'size' or 'width'/'height'");
    }

    private static void assertBadRequest(ObjectNode options, String field, String message) {
        ApiClient.Reply reply = client.post("/api/v1/jobs", options);
        assertEquals(400, reply.status(), reply.text());
        assertNotNull(reply.json(), reply.text());
        assertEquals(field, reply.json().get("field").asText(), reply.text());
        assertTrue(reply.json().get("error").asText().contains(message), reply.text());
    }

    private static BufferedImage png(String url) throws IOException {
        ApiClient.Reply reply = client.get(url);
        assertEquals(200, reply.status(), url);
        assertEquals("image/png", reply.raw().headers().firstValue("Content-Type").orElse(""));
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(reply.raw().body()));
        assertNotNull(image, url + " is a PNG");
        return image;
    }

    private static int[] pixels(BufferedImage image) {
        return image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(node -> out.add(node.asText()));
        return out;
    }
}
