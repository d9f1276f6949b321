package dev.suppress.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.image.Images;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;
import dev.suppress.core.validation.InsufficientMemoryException;
import io.javalin.Javalin;
import io.javalin.config.SizeUnit;
import io.javalin.http.Context;
import io.javalin.http.HttpStatus;
import io.javalin.http.UploadedFile;
import io.javalin.http.sse.SseClient;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * An HTTP server around one loaded {@link Suppressor}: a JSON API under {@code /api/v1/} and a web page at
 * {@code /} (plain HTML, CSS and JavaScript from the jar). The suppressor stays loaded; jobs run one at a time from a
 * bounded queue ({@link JobQueue}); every result image is written under the output folder and served from there.
 *
 * <pre>{@code
 * try (Suppressor suppressor = Suppressor.builder().modelFolder(model).build();
 *      SuppressServer server = SuppressServer.builder(suppressor, model).port(7860).start()) {
 *     server.awaitClose();
 * }
 * }</pre>
 *
 * <p>The API is documented in the module's README. Nothing a client sends names a path: job ids are the server's
 * own (a lookup in a map) and image names come from the finished job's list, so no request reads or writes outside
 * the output folder. The server does not own the suppressor: close the suppressor after the server.
 */
public final class SuppressServer implements AutoCloseable {

    /** The default port, as the Stable Diffusion web UIs use. */
    public static final int DEFAULT_PORT = 7860;

    /** Loopback only, unless told otherwise. */
    public static final String DEFAULT_HOST = "127.0.0.1";

    /** Jobs waiting or running at once, by default. */
    public static final int DEFAULT_QUEUE_CAPACITY = 8;

    /** The largest photo an edit accepts, by default (a 4096×4096 PNG of noise is about 50 MB). */
    public static final long DEFAULT_MAX_UPLOAD_BYTES = 20L * 1024 * 1024;

    /** The largest JSON body: options are small, a prompt is at most a few hundred characters that matter. */
    private static final long MAX_JSON_BYTES = 64 * 1024;

    /** How long {@link #close()} waits for a running job to stop (before its next UNet evaluation). */
    private static final long CLOSE_TIMEOUT_MILLIS = 60_000;

    private static final String WEB = "/dev/suppress/server/web/";

    private final Suppressor suppressor;
    private final String host;
    private final ClipTokenizer tokenizer;
    private final Path outputFolder;
    private final long maxUploadBytes;
    private final Map<String, Object> modelInfo;
    private final Map<String, Job> jobs = new ConcurrentHashMap<>();
    private final JobQueue queue;
    private final ExecutorService events = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = new Thread(runnable, "suppress-events");
        thread.setDaemon(true);
        return thread;
    });
    private final ObjectMapper mapper = new ObjectMapper();
    private final Javalin app;
    private final Object closeLock = new Object();
    private boolean closed;

    private SuppressServer(Builder builder) {
        this.suppressor = builder.suppressor;
        this.host = builder.host;
        this.tokenizer = ClipTokenizer.load(builder.tokenizerFolder != null ? builder.tokenizerFolder
                : builder.modelFolder.resolve("tokenizer"));
        this.outputFolder = builder.outputFolder.toAbsolutePath().normalize();
        this.maxUploadBytes = builder.maxUploadBytes;
        this.modelInfo = ModelInfo.describe(builder.modelFolder, suppressor, builder.builtInModel);
        try {
            Files.createDirectories(outputFolder);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the server's output folder " + outputFolder, e);
        }
        this.queue = new JobQueue(builder.queueCapacity, this::run);
        Map<String, byte[]> page = Map.of(
                "/", resource("index.html"),
                "/app.js", resource("app.js"),
                "/style.css", resource("style.css"));
        this.app = Javalin.create(config -> {
            config.startup.showJavalinBanner = false;
            config.startup.showOldJavalinVersionWarning = false;
            config.jetty.host = builder.host;
            config.jetty.port = builder.port;
            config.http.maxRequestSize = maxUploadBytes + MAX_JSON_BYTES;
            config.jetty.multipartConfig.maxFileSize(maxUploadBytes, SizeUnit.BYTES);
            config.jetty.multipartConfig.maxTotalRequestSize(maxUploadBytes + MAX_JSON_BYTES, SizeUnit.BYTES);
            config.jetty.multipartConfig.maxInMemoryFileSize(1, SizeUnit.MB);

            page.forEach((path, bytes) -> config.routes.get(path, ctx -> ctx.contentType(contentType(path))
                    .result(bytes)));
            config.routes.get("/api/v1/model", ctx -> ctx.json(modelInfo));
            config.routes.post("/api/v1/tokens", this::tokens);
            config.routes.get("/api/v1/queue", ctx -> ctx.json(Map.of("capacity", queue.capacity(),
                    "jobs", queue.ids())));
            config.routes.post("/api/v1/jobs", this::submit);
            config.routes.get("/api/v1/jobs/{id}", ctx -> ctx.json(job(ctx).toJson()));
            config.routes.delete("/api/v1/jobs/{id}", this::cancel);
            config.routes.get("/api/v1/jobs/{id}/images/{file}", this::image);
            // checked before the event stream starts, so that an unknown id is a 404 with a JSON body
            config.routes.before("/api/v1/jobs/{id}/events", this::job);
            config.routes.sse("/api/v1/jobs/{id}/events", this::events);

            config.routes.exception(BadRequestException.class, (e, ctx) -> {
                Map<String, Object> body = new LinkedHashMap<>();
                body.put("error", e.getMessage());
                body.put("field", e.field());
                ctx.status(HttpStatus.BAD_REQUEST).json(body);
            });
            config.routes.exception(NotFoundException.class, (e, ctx) ->
                    ctx.status(HttpStatus.NOT_FOUND).json(Map.of("error", e.getMessage())));
            config.routes.exception(JobQueue.QueueFullException.class, (e, ctx) ->
                    ctx.status(HttpStatus.TOO_MANY_REQUESTS).json(Map.of("error", e.getMessage())));
            config.routes.exception(Exception.class, (e, ctx) -> {
                if (isBadMultipart(e)) {
                    // Jetty's multipart parser refuses a part over the size limit, or a malformed body, when the
                    // parts are first read; it arrives wrapped
                    Map<String, Object> body = new LinkedHashMap<>();
                    body.put("error", "The upload was refused: a photo may have at most " + maxUploadBytes
                            + " bytes, and the body must be well-formed multipart/form-data (" + describe(e) + ")");
                    body.put("field", "image");
                    ctx.status(HttpStatus.BAD_REQUEST).json(body);
                } else {
                    ctx.status(HttpStatus.INTERNAL_SERVER_ERROR).json(Map.of("error", describe(e)));
                }
            });
        });
        try {
            app.start();
        } catch (RuntimeException e) {
            queue.close(0);
            events.shutdownNow();
            throw new IllegalStateException("Cannot serve on " + builder.host + ":" + builder.port + ": "
                    + describe(e), e);
        }
    }

    /**
     * A builder for a server around {@code suppressor}, loaded from {@code modelFolder}.
     *
     * @param suppressor  the loaded model; the server uses it and does not close it
     * @param modelFolder the folder it was loaded from (for {@code GET /api/v1/model} and the tokenizer)
     */
    public static Builder builder(Suppressor suppressor, Path modelFolder) {
        return new Builder(suppressor, modelFolder);
    }

    /** The port it listens on (the one chosen when 0 was asked). */
    public int port() {
        return app.port();
    }

    /** Its address, e.g. {@code http://127.0.0.1:7860/}. */
    public URI uri() {
        return URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port() + "/");
    }

    /** The folder the result images go to, one subfolder per job. */
    public Path outputFolder() {
        return outputFolder;
    }

    /** Blocks until {@link #close()} is called from another thread (or the thread is interrupted). */
    public void awaitClose() throws InterruptedException {
        synchronized (closeLock) {
            while (!closed) {
                closeLock.wait();
            }
        }
    }

    /**
     * Stops accepting requests, cancels the waiting jobs, stops the running one before its next UNet evaluation and waits for it.
     */
    @Override
    public void close() {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
            closeLock.notifyAll();
        }
        try {
            app.stop();
        } finally {
            queue.close(CLOSE_TIMEOUT_MILLIS);
            events.shutdown();
            try {
                events.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---- handlers

    /** {@code POST /api/v1/tokens {"prompt": ...}}: the prompt's tokens with their indices, to pick words. */
    private void tokens(Context ctx) {
        JsonNode body = jsonBody(ctx.body());
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isTextual()) {
            throw new BadRequestException("prompt", "Field 'prompt' is required and must be a string, got "
                    + (prompt == null ? "nothing" : prompt.toString()));
        }
        TokenizedPrompt tokenized = tokenizer.tokenize(prompt.textValue());
        List<Map<String, Object>> tokens = new ArrayList<>();
        for (int index = 1; index <= tokenized.promptTokenCount(); index++) {
            Map<String, Object> token = new LinkedHashMap<>();
            token.put("index", index);
            token.put("text", tokenizer.decode(tokenized.inputId(index)));
            token.put("token", tokenized.tokens().get(index));
            tokens.add(token);
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("prompt", tokenized.prompt());
        json.put("tokens", tokens);
        json.put("length", tokenized.length());
        json.put("maxLength", tokenized.maxLength());
        json.put("truncatedTokens", tokenized.truncatedIds().length);
        ctx.json(json);
    }

    /**
     * {@code POST /api/v1/jobs}: a JSON body is a generation; a {@code multipart/form-data} body with a part
     * {@code image} (the photo) and a part {@code options} (the JSON) is an edit. 202 with the job.
     */
    private void submit(Context ctx) {
        Job job;
        String id = UUID.randomUUID().toString();
        if (ctx.isMultipartFormData()) {
            long length = ctx.contentLength();
            if (length > maxUploadBytes + MAX_JSON_BYTES) {
                throw new BadRequestException("image", "The upload has " + length + " bytes; a photo may have at most "
                        + maxUploadBytes + " bytes");
            }
            UploadedFile upload;
            String optionsText;
            try {
                upload = ctx.uploadedFile("image");
                optionsText = ctx.formParam("options");
            } catch (RuntimeException e) {
                throw new BadRequestException("image", "The upload could not be read (a photo is at most "
                        + maxUploadBytes + " bytes): " + describe(e), e);
            }
            if (upload == null) {
                throw new BadRequestException("image", "An edit needs the photo as the multipart part 'image' "
                        + "(PNG or JPEG); a generation is a JSON body instead");
            }
            if (upload.size() > maxUploadBytes) {
                throw new BadRequestException("image", "The photo has " + upload.size() + " bytes; at most "
                        + maxUploadBytes + " are accepted");
            }
            BufferedImage photo = readPhoto(upload);
            JsonNode options = jsonBody(optionsText == null ? "" : optionsText);
            JobOptions.Checked<ImageEditRequest> checked = JobOptions.edit(options, photo, tokenizer);
            job = new Job(id, Job.Kind.EDIT, checked.request(), checked.options(), checked.suppressedTokens(),
                    warnings(checked.request().suppression()));
        } else {
            String body = ctx.body();
            if (body.length() > MAX_JSON_BYTES) {
                throw new BadRequestException(null, "The body has " + body.length() + " characters; a job's "
                        + "options are at most " + MAX_JSON_BYTES);
            }
            JobOptions.Checked<SuppressionRequest> checked = JobOptions.generation(jsonBody(body), tokenizer);
            job = new Job(id, Job.Kind.GENERATE, checked.request(), checked.options(), checked.suppressedTokens(),
                    warnings(checked.request()));
        }
        jobs.put(id, job);
        try {
            queue.submit(job);
        } catch (RuntimeException e) {
            jobs.remove(id);
            throw e;
        }
        ctx.status(HttpStatus.ACCEPTED).header("Location", "/api/v1/jobs/" + id).json(job.toJson());
    }

    /**
     * The model's own checks of a request ({@link Suppressor#check}), before it is queued: what it would refuse is a
     * 400, what it would do silently (truncate a long prompt) is the job's {@code warnings}.
     */
    private List<String> warnings(SuppressionRequest request) {
        try {
            return suppressor.check(request);
        } catch (InsufficientMemoryException e) {
            throw new BadRequestException("width", e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new BadRequestException(JobOptions.fieldOf(e.getMessage()), e.getMessage(), e);
        }
    }

    /** {@code DELETE /api/v1/jobs/{id}}: 202 with the job; 409 when it had already finished. */
    private void cancel(Context ctx) {
        Job job = job(ctx);
        if (queue.cancel(job)) {
            ctx.status(HttpStatus.ACCEPTED).json(job.toJson());
        } else {
            ctx.status(HttpStatus.CONFLICT).json(Map.of("error", "Job " + job.id() + " has already finished ("
                    + job.state().json() + ")"));
        }
    }

    /** {@code GET /api/v1/jobs/{id}/images/{name}.png}. */
    private void image(Context ctx) {
        Job job = job(ctx);
        String file = ctx.pathParam("file");
        String name = file.endsWith(".png") ? file.substring(0, file.length() - ".png".length()) : "";
        if (!job.hasImage(name)) {
            throw new NotFoundException("Job " + job.id() + " has no image '" + file + "'"
                    + (job.state().finished() ? "" : " yet: it is " + job.state().json()));
        }
        // name is one of the job's own image names, id one of the server's ids: the path stays inside the folder
        Path png = outputFolder.resolve(job.id()).resolve(name + ".png");
        try {
            ctx.contentType("image/png").result(Files.readAllBytes(png));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + png, e);
        }
    }

    /**
     * {@code GET /api/v1/jobs/{id}/events}: server-sent events, {@code progress} with the job's JSON at each change
     * (each denoising step, inversion step and ITO iteration, each change of queue position), then one
     * {@code done}, {@code failed} or {@code cancelled} event, after which the stream closes.
     */
    private void events(SseClient client) {
        Job job = job(client.ctx());
        client.keepAlive();
        Consumer<Map<String, Object>> subscriber = new Consumer<>() {
            @Override
            public void accept(Map<String, Object> snapshot) {
                events.execute(() -> send(client, job, this, snapshot));
            }
        };
        client.onClose(() -> job.unsubscribe(subscriber));
        Map<String, Object> now = job.subscribe(subscriber);
        events.execute(() -> send(client, job, subscriber, now));
    }

    private void send(SseClient client, Job job, Consumer<Map<String, Object>> subscriber,
                      Map<String, Object> snapshot) {
        if (client.terminated()) {
            job.unsubscribe(subscriber);
            return;
        }
        String state = (String) snapshot.get("state");
        boolean finished = Job.State.valueOf(state.toUpperCase(java.util.Locale.ROOT)).finished();
        try {
            client.sendEvent(finished ? state : "progress", toJsonText(snapshot));
        } catch (RuntimeException e) {
            // the client went away; it is unsubscribed below
            finished = true;
        }
        if (finished) {
            job.unsubscribe(subscriber);
            client.close();
        }
    }

    // ---- running a job (on the queue's thread)

    private void run(Job job) {
        if (job.cancelRequested()) {
            job.markCancelled();
            return;
        }
        ProgressListener listener = new ProgressListener() {
            // polled before every network pass: a DELETE stops the job at most one UNet evaluation later
            @Override
            public boolean cancelRequested() {
                return job.cancelRequested();
            }

            @Override
            public Progress onDenoisingStep(DenoisingStep step) {
                job.onDenoisingStep(step);
                return job.cancelRequested() ? Progress.CANCEL : Progress.CONTINUE;
            }

            @Override
            public Progress onItoIteration(ItoIteration iteration) {
                job.onItoIteration(iteration);
                return job.cancelRequested() ? Progress.CANCEL : Progress.CONTINUE;
            }

            @Override
            public Progress onInversionStep(InversionStep inversion) {
                job.onInversionStep(inversion);
                return job.cancelRequested() ? Progress.CANCEL : Progress.CONTINUE;
            }
        };
        try {
            SuppressionResult result;
            Map<String, BufferedImage> images;
            if (job.kind() == Job.Kind.EDIT) {
                ImageEditResult edit = suppressor.edit((ImageEditRequest) job.request(), listener);
                result = edit.suppression();
                images = ResultImages.edited(edit);
            } else {
                result = suppressor.generate((SuppressionRequest) job.request(), listener);
                images = ResultImages.generated(result);
            }
            Path folder = outputFolder.resolve(job.id());
            Map<String, String> urls = new LinkedHashMap<>();
            for (Map.Entry<String, BufferedImage> image : images.entrySet()) {
                Images.writePng(image.getValue(), folder.resolve(image.getKey() + ".png"));
                urls.put(image.getKey(), "/api/v1/jobs/" + job.id() + "/images/" + image.getKey() + ".png");
            }
            job.markDone(result, urls);
        } catch (GenerationCancelledException e) {
            job.markCancelled();
        } catch (RuntimeException | Error e) {
            // a failed job says why and the queue goes on with the next one
            job.markFailed(describe(e));
        }
    }

    // ---- helpers

    private Job job(Context ctx) {
        String id = ctx.pathParam("id");
        Job job = jobs.get(id);
        if (job == null) {
            throw new NotFoundException("No job with id '" + id + "'");
        }
        return job;
    }

    private JsonNode jsonBody(String body) {
        if (body == null || body.isBlank()) {
            throw new BadRequestException(null, "The body is empty; send the options as a JSON object such as "
                    + "{\"prompt\": \"a man without glasses\", \"suppress\": [\"glasses\"]}");
        }
        try {
            return mapper.readTree(body);
        } catch (JsonProcessingException e) {
            throw new BadRequestException(null, "The body is not JSON: " + e.getOriginalMessage(), e);
        }
    }

    private String toJsonText(Object value) {
        try {
            return mapper.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("Cannot write a job as JSON", e);
        }
    }

    private static BufferedImage readPhoto(UploadedFile upload) {
        try (InputStream in = upload.content()) {
            BufferedImage image = ImageIO.read(in);
            if (image == null) {
                throw new BadRequestException("image", "The photo '" + upload.filename() + "' is not a PNG or JPEG "
                        + "image that can be read");
            }
            return image;
        } catch (IOException e) {
            throw new BadRequestException("image", "The photo '" + upload.filename() + "' cannot be read: "
                    + e.getMessage(), e);
        }
    }

    private static byte[] resource(String name) {
        try (InputStream in = SuppressServer.class.getResourceAsStream(WEB + name)) {
            if (in == null) {
                throw new IllegalStateException("The web page's " + name + " is missing from the jar (" + WEB + name
                        + ")");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + WEB + name + " from the jar", e);
        }
    }

    private static String contentType(String path) {
        if (path.endsWith(".js")) {
            return "text/javascript; charset=utf-8";
        }
        if (path.endsWith(".css")) {
            return "text/css; charset=utf-8";
        }
        return "text/html; charset=utf-8";
    }

    private static boolean isBadMultipart(Throwable error) {
        for (Throwable at = error; at != null; at = at.getCause()) {
            if (at instanceof org.eclipse.jetty.http.BadMessageException) {
                return true;
            }
        }
        return false;
    }

    /** The message, with the cause's when it adds something, on one line. */
    static String describe(Throwable error) {
        String message = error.getMessage() != null ? error.getMessage() : error.getClass().getSimpleName();
        Throwable cause = error.getCause();
        if (cause != null && cause.getMessage() != null && !message.contains(cause.getMessage())) {
            message += ": " + cause.getMessage();
        }
        return message.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    /** An unknown job or image: HTTP 404. */
    static final class NotFoundException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NotFoundException(String message) {
            super(message);
        }
    }

    /** Configures and starts a {@link SuppressServer}. */
    public static final class Builder {
        private final Suppressor suppressor;
        private final Path modelFolder;
        private String host = DEFAULT_HOST;
        private int port = DEFAULT_PORT;
        private Path outputFolder = Path.of("suppress-server-out");
        private int queueCapacity = DEFAULT_QUEUE_CAPACITY;
        private long maxUploadBytes = DEFAULT_MAX_UPLOAD_BYTES;
        private Path tokenizerFolder;
        private boolean builtInModel;

        private Builder(Suppressor suppressor, Path modelFolder) {
            this.suppressor = Objects.requireNonNull(suppressor, "suppressor");
            this.modelFolder = Objects.requireNonNull(modelFolder, "modelFolder");
        }

        /** The address to bind (default {@value #DEFAULT_HOST}: this machine only). */
        public Builder host(String host) {
            this.host = Objects.requireNonNull(host, "host");
            return this;
        }

        /** The port (default {@value #DEFAULT_PORT}; 0 picks a free one). */
        public Builder port(int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port must be in 0..65535, got " + port);
            }
            this.port = port;
            return this;
        }

        /** Where the result images go, one subfolder per job (default {@code suppress-server-out}). */
        public Builder outputFolder(Path folder) {
            this.outputFolder = Objects.requireNonNull(folder, "folder");
            return this;
        }

        /** The most jobs waiting or running at once (default {@value #DEFAULT_QUEUE_CAPACITY}). */
        public Builder queueCapacity(int capacity) {
            if (capacity < 1) {
                throw new IllegalArgumentException("queueCapacity must be at least 1, got " + capacity);
            }
            this.queueCapacity = capacity;
            return this;
        }

        /** The largest photo an edit accepts, in bytes (default 20 MiB). */
        public Builder maxUploadBytes(long bytes) {
            if (bytes < 1) {
                throw new IllegalArgumentException("maxUploadBytes must be positive, got " + bytes);
            }
            this.maxUploadBytes = bytes;
            return this;
        }

        /** The tokenizer folder, when the model folder has no {@code tokenizer/} (default {@code <model>/tokenizer}). */
        public Builder tokenizerFolder(Path folder) {
            this.tokenizerFolder = Objects.requireNonNull(folder, "folder");
            return this;
        }

        /** Whether the model is the CLI's built-in tiny model with random weights (the page then says so). */
        public Builder builtInModel(boolean builtIn) {
            this.builtInModel = builtIn;
            return this;
        }

        /**
         * Starts serving.
         *
         * @throws IllegalStateException when the address cannot be bound (the port is taken)
         */
        public SuppressServer start() {
            return new SuppressServer(this);
        }
    }
}
