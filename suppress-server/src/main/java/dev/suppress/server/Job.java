package dev.suppress.server;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.UNetWork;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * One generation or edit, from the moment it is accepted until it is done, failed or cancelled: its options, its
 * progress and, when done, the URLs of its images.
 *
 * <p>Thread-safe: the runner thread updates it, HTTP threads read {@link #toJson} snapshots. Every change is passed
 * to the subscribers ({@link #subscribe}) as a snapshot, in order, on the thread that made it and under the job's
 * lock: a subscriber must hand the snapshot on and return, never block.
 */
final class Job {

    /** A job's state, as its JSON {@code state} spells it. */
    enum State {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED;

        boolean finished() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }

        String json() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What a job does. */
    enum Kind {
        GENERATE, EDIT;

        String json() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final String id;
    private final Kind kind;
    private final Object request;
    private final ObjectNode options;
    private final List<Integer> suppressedTokens;
    private final List<String> warnings;
    private final Instant created = Instant.now();
    private final List<Consumer<Map<String, Object>>> subscribers = new CopyOnWriteArrayList<>();

    private State state = State.QUEUED;
    private int queuePosition;
    private Instant started;
    private Instant finished;
    private long startedNanos;
    private long finishedNanos;
    private String phase;
    private int stepsDone;
    private int steps;
    private int inversionStepsDone;
    private Map<String, Object> lastIto;
    private List<Double> itoFinalLosses = List.of();
    private UNetWork work;
    private Map<String, String> images = Map.of();
    private String error;
    private volatile boolean cancelRequested;

    /**
     * @param id      the job's id, unique on this server
     * @param kind    generate or edit
     * @param request the {@link dev.suppress.core.SuppressionRequest} or {@link dev.suppress.core.ImageEditRequest}
     * @param options the options as given (echoed in the JSON)
     * @param suppressedTokens the prompt-token indices the options resolve to
     * @param warnings what the model will do silently with the request (truncate a long prompt), one sentence each
     */
    Job(String id, Kind kind, Object request, ObjectNode options, List<Integer> suppressedTokens,
            List<String> warnings) {
        this.id = id;
        this.kind = kind;
        this.request = request;
        this.options = options.deepCopy();
        this.suppressedTokens = List.copyOf(suppressedTokens);
        this.warnings = List.copyOf(warnings);
    }

    String id() {
        return id;
    }

    Kind kind() {
        return kind;
    }

    Object request() {
        return request;
    }

    synchronized State state() {
        return state;
    }

    /** Whether a client asked to cancel it. */
    boolean cancelRequested() {
        return cancelRequested;
    }

    /**
     * Adds a subscriber and returns the current snapshot; the subscriber sees every later change, the last one
     * with a finished state.
     */
    synchronized Map<String, Object> subscribe(Consumer<Map<String, Object>> subscriber) {
        subscribers.add(subscriber);
        return toJson();
    }

    void unsubscribe(Consumer<Map<String, Object>> subscriber) {
        subscribers.remove(subscriber);
    }

    /** Called by the queue when the jobs ahead of this one change. */
    synchronized void queuePosition(int position) {
        if (state != State.QUEUED || queuePosition == position) {
            return;
        }
        queuePosition = position;
        publish();
    }

    /** Asks a running job to stop before its next UNet evaluation; a queued job is cancelled by the queue. */
    void requestCancel() {
        cancelRequested = true;
    }

    synchronized void markRunning() {
        state = State.RUNNING;
        queuePosition = 0;
        started = Instant.now();
        startedNanos = System.nanoTime();
        publish();
    }

    synchronized void onInversionStep(ProgressListener.InversionStep inversion) {
        phase = "inversion";
        steps = inversion.steps();
        inversionStepsDone = inversion.stepIndex() + 1;
        publish();
    }

    synchronized void onDenoisingStep(ProgressListener.DenoisingStep step) {
        phase = step.phase().name().toLowerCase(Locale.ROOT);
        steps = step.steps();
        stepsDone = step.stepIndex() + 1;
        publish();
    }

    synchronized void onItoIteration(ProgressListener.ItoIteration iteration) {
        Map<String, Object> ito = new LinkedHashMap<>();
        ito.put("step", iteration.stepIndex() + 1);
        ito.put("iteration", iteration.iteration() + 1);
        ito.put("iterations", iteration.iterations());
        ito.put("loss", finiteOrNull(iteration.loss()));
        lastIto = ito;
        publish();
    }

    /** The run finished: its work, ITO losses and the URLs of the images written for it. */
    synchronized void markDone(SuppressionResult result, Map<String, String> imageUrls) {
        List<Double> losses = new ArrayList<>();
        for (SuppressionResult.ItoStep step : result.itoSteps()) {
            losses.add(finiteOrNull(step.lastLoss()));
        }
        itoFinalLosses = losses;
        work = result.work();
        images = new LinkedHashMap<>(imageUrls);
        finish(State.DONE, null);
        publish();
    }

    synchronized void markFailed(String message) {
        finish(State.FAILED, message);
        publish();
    }

    synchronized void markCancelled() {
        finish(State.CANCELLED, null);
        publish();
    }

    private void finish(State finalState, String message) {
        state = finalState;
        error = message;
        queuePosition = 0;
        finished = Instant.now();
        finishedNanos = System.nanoTime();
    }

    /** Whether {@code name} is one of the images of this finished job. */
    synchronized boolean hasImage(String name) {
        return images.containsKey(name);
    }

    /**
     * The job as the API shows it: {@code id, kind, state, queuePosition (queued only), phase, step, steps,
     * progress, ito, itoFinalLosses, unetWork, wallTimeSeconds, createdAt, startedAt, finishedAt, options,
     * suppressedTokens, images, error}.
     */
    synchronized Map<String, Object> toJson() {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("id", id);
        json.put("kind", kind.json());
        json.put("state", state.json());
        if (state == State.QUEUED) {
            json.put("queuePosition", queuePosition);
        }
        json.put("phase", phase);
        json.put("step", stepsDone);
        json.put("steps", steps == 0 ? null : steps);
        json.put("progress", progress());
        json.put("ito", lastIto);
        json.put("itoFinalLosses", itoFinalLosses);
        if (work != null) {
            Map<String, Object> unet = new LinkedHashMap<>();
            unet.put("noisePredictions", work.noisePredictions());
            unet.put("attentionPasses", work.attentionPasses());
            unet.put("gradientProbes", work.gradientProbes());
            unet.put("forwardEquivalents", work.forwardEquivalents());
            json.put("unetWork", unet);
        } else {
            json.put("unetWork", null);
        }
        json.put("wallTimeSeconds", wallTimeSeconds());
        json.put("createdAt", created.toString());
        json.put("startedAt", started == null ? null : started.toString());
        json.put("finishedAt", finished == null ? null : finished.toString());
        json.put("options", options);
        json.put("suppressedTokens", suppressedTokens);
        json.put("warnings", warnings);
        json.put("images", images);
        json.put("error", error);
        return json;
    }

    /** Share of the work done in {@code [0, 1]}: an edit's inversion counts as many steps as its denoising. */
    private double progress() {
        if (state == State.DONE) {
            return 1.0;
        }
        if (steps == 0) {
            return 0.0;
        }
        if (kind == Kind.EDIT) {
            return (inversionStepsDone + stepsDone) / (2.0 * steps);
        }
        return stepsDone / (double) steps;
    }

    private Double wallTimeSeconds() {
        if (started == null) {
            return null;
        }
        long end = finished != null ? finishedNanos : System.nanoTime();
        return Duration.ofNanos(end - startedNanos).toMillis() / 1000.0;
    }

    /** Under the lock, so that subscribers see the changes in the order they were made. */
    private void publish() {
        Map<String, Object> snapshot = toJson();
        for (Consumer<Map<String, Object>> subscriber : subscribers) {
            subscriber.accept(snapshot);
        }
    }

    /** JSON has no NaN or infinity. */
    private static Double finiteOrNull(double value) {
        return Double.isFinite(value) ? value : null;
    }
}
