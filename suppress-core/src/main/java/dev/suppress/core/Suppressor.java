package dev.suppress.core;

import dev.suppress.core.io.ModelFormatException;

import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.validation.InsufficientMemoryException;
import dev.suppress.core.text.TokenizedPrompt;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.ServiceLoader;

/**
 * Stable Diffusion that suppresses what the prompt names but the user does not want: the entry point of the
 * library.
 *
 * <pre>{@code
 * try (Suppressor suppressor = Suppressor.builder().modelFolder(Path.of("stable-diffusion-v1-5")).build()) {
 *     SuppressionResult result = suppressor.generate(
 *             SuppressionRequest.builder("a man without glasses").suppress("glasses").seed(2023).build());
 *     ImageIO.write(result.suppressed(), "png", new File("suppressed.png"));
 * }
 * }</pre>
 *
 * <p>The model folder is a Stable Diffusion 1.x or 2.x folder as diffusers saves it ({@code tokenizer/},
 * {@code scheduler/}, {@code text_encoder/}, {@code unet/}, {@code vae/}) for the DJL backend, or the ONNX export
 * layout for the ONNX Runtime backend. Backends are found on the class path ({@link BackendProvider}).
 *
 * <p>Threads: a {@code Suppressor} may be shared. {@link #generate} and {@link #edit} are serialised: a call made
 * while another thread's generation runs waits for it, then runs, and gives the same result as if the calls had
 * been made one after the other on one thread (the result depends only on the request). Running two
 * generations of one model at once would only make both slower on the same cores; for parallel work, open one
 * {@code Suppressor} per model copy.
 *
 * <p>Cancelling: a {@link ProgressListener} stops its run by returning {@link ProgressListener.Progress#CANCEL}
 * or, from any thread, through {@link ProgressListener#cancelRequested()}, polled before every network pass; the
 * run then throws {@link GenerationCancelledException} at most one UNet evaluation later, with every native
 * resource of the run released, and the {@code Suppressor} can run the next request (its result is the same as
 * a fresh {@code Suppressor}'s).
 *
 * <p>Closing: {@link #close()} releases the model's native memory. Called while a generation runs on another
 * thread, it stops that generation before its next network pass (the generation throws
 * {@link IllegalStateException} "This Suppressor was closed during the run"), waits for it to return, then
 * closes the backend: no pass ever runs on a closed model. Calls waiting for their turn, and any later call,
 * throw {@link IllegalStateException} "This Suppressor is closed".
 */
public final class Suppressor implements AutoCloseable {

    private final DiffusionBackend backend;
    private final ClipTokenizer tokenizer;
    private final SuppressionPipeline pipeline;
    /** Set first thing by {@link #close()}, outside the lock, so that a running generation stops at its next pass. */
    private volatile boolean closing;
    /** Set under the lock once the backend is closed. */
    private boolean closed;

    private Suppressor(DiffusionBackend backend, ClipTokenizer tokenizer, SuppressionPipeline pipeline) {
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.pipeline = pipeline;
    }

    /** A builder; at least {@link Builder#modelFolder} must be set. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Generates the original image and the suppressed one from the same initial latent.
     *
     * @throws IllegalArgumentException when a word is not in the prompt or an option does not fit the model
     * @throws IllegalStateException    when this suppressor is closed
     */
    public SuppressionResult generate(SuppressionRequest request) {
        return generate(request, ProgressListener.NONE);
    }

    /**
     * As {@link #generate(SuppressionRequest)}, telling {@code listener} of every step and ITO iteration.
     *
     * @throws GenerationCancelledException when the listener cancels
     * @throws IllegalStateException        when this suppressor is closed, before or during the run
     */
    public synchronized SuppressionResult generate(SuppressionRequest request, ProgressListener listener) {
        ensureOpen();
        check(request);
        ProgressListener closable = closable(Objects.requireNonNull(listener, "listener"));
        try {
            return pipeline.generate(Objects.requireNonNull(request, "request"), closable);
        } catch (GenerationCancelledException e) {
            throw closedDuringTheRun(e);
        }
    }

    /**
     * Edits a real photo: inverts it, then suppresses (or strengthens) words of its prompt (ALGORITHM.md §6).
     *
     * @throws IllegalArgumentException when a word is not in the prompt, or null-text inversion is asked of a
     *                                  backend without autograd
     * @throws IllegalStateException    when this suppressor is closed or the model has no VAE encoder
     */
    public ImageEditResult edit(ImageEditRequest request) {
        return edit(request, ProgressListener.NONE);
    }

    /**
     * As {@link #edit(ImageEditRequest)}, telling {@code listener} of every inversion step, denoising step and ITO
     * iteration.
     *
     * @throws GenerationCancelledException when the listener cancels
     * @throws IllegalStateException        when this suppressor is closed, before or during the run
     */
    public synchronized ImageEditResult edit(ImageEditRequest request, ProgressListener listener) {
        ensureOpen();
        check(Objects.requireNonNull(request, "request").suppression());
        ProgressListener closable = closable(Objects.requireNonNull(listener, "listener"));
        try {
            return pipeline.edit(request, closable);
        } catch (GenerationCancelledException e) {
            throw closedDuringTheRun(e);
        }
    }

    /** The caller's listener, also cancelling once {@link #close()} has been called. */
    private ProgressListener closable(ProgressListener listener) {
        return new ProgressListener() {
            @Override
            public boolean cancelRequested() {
                return closing || listener.cancelRequested();
            }

            @Override
            public Progress onDenoisingStep(DenoisingStep step) {
                return listener.onDenoisingStep(step);
            }

            @Override
            public Progress onItoIteration(ItoIteration iteration) {
                return listener.onItoIteration(iteration);
            }

            @Override
            public Progress onInversionStep(InversionStep inversion) {
                return listener.onInversionStep(inversion);
            }
        };
    }

    /** A cancellation that {@link #close()} caused is the caller's {@link IllegalStateException}. */
    private RuntimeException closedDuringTheRun(GenerationCancelledException cancelled) {
        if (!closing) {
            return cancelled;
        }
        IllegalStateException closedError = new IllegalStateException("This Suppressor was closed during the run; "
                + "the run stopped: " + cancelled.getMessage());
        closedError.initCause(cancelled);
        return closedError;
    }

    /**
     * Inverts a real photo without editing it (ALGORITHM.md §6): what {@link #edit} does before its first denoising
     * step. Write the result with {@link SavedInversion#write}; an edit given it with
     * {@link ImageEditRequest.Builder#inversion(SavedInversion)} (same model, photo, prompt, inversion, steps,
     * guidance and size) gives the same images as one that inverts again, without the inversion's UNet work.
     *
     * @throws IllegalArgumentException when null-text inversion is asked of a backend without autograd
     * @throws IllegalStateException    when this suppressor is closed or the model has no VAE encoder
     */
    public SavedInversion invert(InversionRequest request) {
        return invert(request, ProgressListener.NONE);
    }

    /**
     * As {@link #invert(InversionRequest)}, telling {@code listener} of every inversion step.
     *
     * @throws GenerationCancelledException when the listener cancels
     * @throws IllegalStateException        when this suppressor is closed, before or during the run
     */
    public synchronized SavedInversion invert(InversionRequest request, ProgressListener listener) {
        ensureOpen();
        ProgressListener closable = closable(Objects.requireNonNull(listener, "listener"));
        try {
            return pipeline.invert(Objects.requireNonNull(request, "request"), closable);
        } catch (GenerationCancelledException e) {
            throw closedDuringTheRun(e);
        }
    }

    /**
     * Checks a request against this model without running it: what {@link #generate} would refuse before its first
     * UNet call ({@link RequestValidator}), and warnings for what it would do silently (truncate a long prompt).
     *
     * @return the warnings, empty when there is nothing to say
     * @throws IllegalArgumentException naming the option, the word or the file
     * @throws InsufficientMemoryException when the UNet's attention at the requested size cannot fit
     */
    public List<String> check(SuppressionRequest request) {
        ensureOpen();
        return RequestValidator.check(Objects.requireNonNull(request, "request"), tokenizer,
                backend.denoiser().description(), backend.precision());
    }

    /** How the model's tokenizer splits a prompt (to choose words or token indices to suppress). */
    public TokenizedPrompt tokenize(String prompt) {
        ensureOpen();
        return tokenizer.tokenize(prompt);
    }

    /** The backend's name ({@code djl}, {@code onnx}). */
    public String backendName() {
        return backend.name();
    }

    /** The floating-point type the backend's networks compute in ({@link Precision#AUTO} resolved). */
    public Precision precision() {
        return backend.precision();
    }

    private void ensureOpen() {
        if (closing) {
            throw new IllegalStateException("This Suppressor is closed");
        }
    }

    /**
     * Releases the model. A generation running on another thread stops before its next network pass (it throws
     * {@link IllegalStateException}); this call waits for it to return, then closes the backend. Idempotent.
     */
    @Override
    public void close() {
        closing = true;
        synchronized (this) {
            if (!closed) {
                closed = true;
                backend.close();
            }
        }
    }

    /** Configures and loads a {@link Suppressor}. */
    public static final class Builder {
        private Path modelFolder;
        private String backendName;
        private BackendProvider provider;
        private Device device = Device.CPU;
        private boolean allowCpuFallback;
        private Precision precision = Precision.FP32;
        private FiniteDifferenceOptions finiteDifferences = FiniteDifferenceOptions.DEFAULT;
        private Path tokenizerFolder;
        private Path schedulerConfig;

        private Builder() {
        }

        /** The model folder (required). */
        public Builder modelFolder(Path folder) {
            this.modelFolder = Objects.requireNonNull(folder, "folder");
            return this;
        }

        /**
         * The backend by name: {@code djl} or {@code onnx} (its module must be on the class path). By default the
         * only backend present, or {@code djl} when both are.
         */
        public Builder backend(String name) {
            this.backendName = Objects.requireNonNull(name, "name").toLowerCase(Locale.ROOT);
            this.provider = null;
            return this;
        }

        /** A backend given directly, bypassing the class-path lookup. */
        public Builder backend(BackendProvider provider) {
            this.provider = Objects.requireNonNull(provider, "provider");
            this.backendName = null;
            return this;
        }

        /**
         * The tokenizer folder ({@code vocab.json}, {@code merges.txt}), for model folders without a
         * {@code tokenizer/} (some ONNX exports); default {@code <modelFolder>/tokenizer}.
         */
        public Builder tokenizerFolder(Path folder) {
            this.tokenizerFolder = Objects.requireNonNull(folder, "folder");
            return this;
        }

        /**
         * The scheduler configuration file; default {@code <modelFolder>/scheduler/scheduler_config.json}, or the
         * reference's DDIM configuration (ALGORITHM.md §5) when the folder has none.
         */
        public Builder schedulerConfig(Path file) {
            this.schedulerConfig = Objects.requireNonNull(file, "file");
            return this;
        }

        /** Where to compute (default the CPU). */
        public Builder device(Device device) {
            this.device = Objects.requireNonNull(device, "device");
            return this;
        }

        /** Where to compute: {@code cpu}, {@code gpu}, {@code gpu:N}, {@code cuda:N}. */
        public Builder device(String device) {
            return device(Device.parse(device));
        }

        /** Fall back to the CPU when the GPU cannot be used, instead of failing (default false). */
        public Builder allowCpuFallback(boolean allow) {
            this.allowCpuFallback = allow;
            return this;
        }

        /**
         * The networks' floating-point type (default {@link Precision#FP32}, exact with respect to the reference);
         * see {@link Precision} for what stays float32. A backend that cannot compute in the type on its device
         * says so when it opens (the DJL backend refuses fp16 on a CPU).
         */
        public Builder precision(Precision precision) {
            this.precision = Objects.requireNonNull(precision, "precision");
            return this;
        }

        /** How ITO estimates gradients on a backend without autograd (default {@link FiniteDifferenceOptions#DEFAULT}). */
        public Builder finiteDifferences(FiniteDifferenceOptions options) {
            this.finiteDifferences = Objects.requireNonNull(options, "options");
            return this;
        }

        /**
         * Loads the model.
         *
         * @throws ModelFormatException     when the folder is not a model the backend can read
         * @throws IllegalArgumentException when no backend of that name is on the class path
         */
        public Suppressor build() {
            if (modelFolder == null) {
                throw new IllegalStateException("Set the model folder with modelFolder(...)");
            }
            if (!Files.isDirectory(modelFolder)) {
                throw new ModelFormatException(modelFolder, "Model folder does not exist or is not a folder");
            }
            BackendProvider chosen = provider != null ? provider : findProvider(backendName);
            ClipTokenizer tokenizer = ClipTokenizer.load(tokenizerFolder != null ? tokenizerFolder
                    : ModelFolders.tokenizerFolder(modelFolder));
            SchedulerConfig scheduler = schedulerConfig != null ? SchedulerConfig.read(schedulerConfig)
                    : ModelFolders.schedulerConfig(modelFolder);
            // before the backend opens: a folder that cannot be listed fails with nothing to close
            String model = InversionFingerprint.model(modelFolder);
            DiffusionBackend backend = chosen.open(new BackendOptions(modelFolder, device, allowCpuFallback, precision));
            return new Suppressor(backend, tokenizer,
                    new SuppressionPipeline(backend, tokenizer, scheduler, finiteDifferences, model));
        }

        private static BackendProvider findProvider(String name) {
            List<BackendProvider> found = new ArrayList<>();
            for (BackendProvider candidate : ServiceLoader.load(BackendProvider.class)) {
                found.add(candidate);
            }
            List<String> names = found.stream().map(BackendProvider::name).toList();
            if (found.isEmpty()) {
                throw new IllegalArgumentException("No backend on the class path: add the dependency "
                        + "dev.suppress:suppress-djl (PyTorch through DJL) or dev.suppress:suppress-onnx (ONNX Runtime)");
            }
            String wanted = name != null ? name : (names.contains("djl") || found.size() > 1 ? "djl" : names.get(0));
            for (BackendProvider candidate : found) {
                if (candidate.name().equals(wanted)) {
                    return candidate;
                }
            }
            throw new IllegalArgumentException("No backend named '" + wanted + "' on the class path; found " + names);
        }
    }
}
