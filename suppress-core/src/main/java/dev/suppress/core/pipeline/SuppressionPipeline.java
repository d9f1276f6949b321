package dev.suppress.core.pipeline;

import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.ProgressListener.Phase;
import dev.suppress.core.ProgressListener.Progress;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.TokenAttention;
import dev.suppress.core.UNetWork;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionLoss;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.attention.TokenMaskOptions;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.health.NumericalHealth;
import dev.suppress.core.ito.AutogradContextGradient;
import dev.suppress.core.ito.ContextGradient;
import dev.suppress.core.ito.FiniteDifferenceContextGradient;
import dev.suppress.core.ito.FastItoOptions;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.ImageInversion;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.ito.InferenceTimeOptimization;
import dev.suppress.core.schedule.ClassifierFreeGuidance;
import dev.suppress.core.schedule.DdimScheduler;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.schedule.TorchGaussianNoise;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenIndices;
import dev.suppress.core.text.TokenizedPrompt;

import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntFunction;

/**
 * Generated-image suppression (ALGORITHM.md §3-§5) on any backend, through the seams of {@code core.backend}.
 *
 * <p>Two branches share the initial latent: the original branch is conditioned on the prompt's embedding
 * {@code c}, the suppressed branch on {@code ĉ_i}: {@code c} before step {@code ⌈(1−τ)S⌉}, from then on
 * {@code SWR(c)} recomputed at every step, refined by ITO at steps before {@code maxItoStep}. Each step applies
 * classifier-free guidance and one DDIM step to each branch. {@link Mode#REFERENCE} runs the reference's schedule;
 * {@link Mode#FAST} leaves out the work it repeats or discards (see {@link Mode}).
 *
 * <p>Not thread-safe: one generation at a time per pipeline (the backends hold native state).
 */
public final class SuppressionPipeline {

    /** Image pixels per latent pixel: the VAE of SD 1.x and 2.x halves the side three times. */
    private static final int VAE_DOWNSAMPLING = 8;

    /** The map side ITO aims for: the 16×16 level of SD 1.x at 512 px (ALGORITHM.md §4). */
    public static final int PREFERRED_ATTENTION_RESOLUTION = 16;

    private final DiffusionBackend backend;
    private final ClipTokenizer tokenizer;
    private final SchedulerConfig schedulerConfig;
    private final FiniteDifferenceOptions finiteDifferences;

    /**
     * @param backend           the model parts (not closed by the pipeline)
     * @param tokenizer         the model's tokenizer
     * @param schedulerConfig   the DDIM configuration
     * @param finiteDifferences how ITO estimates gradients when the backend has no autograd probe
     */
    public SuppressionPipeline(DiffusionBackend backend, ClipTokenizer tokenizer, SchedulerConfig schedulerConfig,
                               FiniteDifferenceOptions finiteDifferences) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.schedulerConfig = Objects.requireNonNull(schedulerConfig, "schedulerConfig");
        this.finiteDifferences = Objects.requireNonNull(finiteDifferences, "finiteDifferences");
    }

    /**
     * Generates the original and the suppressed image.
     *
     * @throws IllegalArgumentException       when a word is not in the prompt, an index is out of range, or the
     *                                        request does not fit the model
     * @throws GenerationCancelledException when the listener cancels
     */
    public SuppressionResult generate(SuppressionRequest request, ProgressListener listener) {
        Objects.requireNonNull(listener, "listener");
        Clock clock = new Clock();
        TokenizedPrompt prompt = tokenizer.tokenize(request.prompt());
        int[] negatives = negativeTokens(request, prompt);
        Tensor embedding = backend.textEncoder().encode(prompt.inputIds());
        Tensor unconditional = backend.textEncoder().encode(tokenizer.tokenize(
                request.negativePrompt() == null ? "" : request.negativePrompt()).inputIds());
        clock.textEncoding = clock.lap();

        WorkCounter work = new WorkCounter(backend.denoiser());
        DenoiserWithAttention denoiser = work.counted();
        Tensor initialLatent = initialLatent(request, denoiser.description());
        int resolution = attentionResolution(request.attentionResolution(), denoiser.description(),
                initialLatent.dim(3));
        Run run = new Run(request, listener, prompt, negatives, embedding, denoiser, work, resolution, clock);
        Branches finalLatents = run.denoise(new Branches(initialLatent, initialLatent), 0, request.steps(),
                stepIndex -> unconditional, request.itoStepScale());
        return result(run, prompt, finalLatents, work, clock);
    }

    /**
     * Edits a real photo (ALGORITHM.md §6): encode it, invert it by DDIM, find the unconditional embedding of every
     * step (null-text or negative-prompt inversion), then run both branches from the inverted latent with those
     * embeddings and the request's ITO scale (5 by default for photos).
     *
     * @throws IllegalArgumentException       when a word is not in the prompt, or null-text inversion is asked of a
     *                                        backend without autograd
     * @throws IllegalStateException          when the backend has no VAE encoder
     * @throws GenerationCancelledException when the listener cancels
     */
    public ImageEditResult edit(ImageEditRequest edit, ProgressListener listener) {
        Objects.requireNonNull(listener, "listener");
        Clock clock = new Clock();
        SuppressionRequest request = edit.suppression();
        LatentEncoder encoder = backend.encoder().orElseThrow(() -> new IllegalStateException(
                "The " + backend.name() + " backend's model has no VAE encoder; editing a photo needs one"));
        GradientProbe probe = null;
        if (edit.inversion() == Inversion.NULL_TEXT) {
            probe = backend.gradientProbe().orElseThrow(() -> new IllegalArgumentException("Null-text inversion "
                    + "needs a backend with autograd; the " + backend.name() + " backend can use negative-prompt "
                    + "inversion (Inversion.NEGATIVE_PROMPT)"));
        }
        TokenizedPrompt prompt = tokenizer.tokenize(request.prompt());
        int[] negatives = negativeTokens(request, prompt);
        Tensor embedding = backend.textEncoder().encode(prompt.inputIds());
        Tensor empty = backend.textEncoder().encode(tokenizer.tokenize("").inputIds());
        clock.textEncoding = clock.lap();

        WorkCounter work = new WorkCounter(backend.denoiser());
        DenoiserWithAttention denoiser = work.counted();
        UNetDescription unet = denoiser.description();
        int imageSide = latentSide(request, unet) * VAE_DOWNSAMPLING;
        Tensor input = Images.toTensor(Images.centerCropAndResize(edit.image(), imageSide));
        Tensor photoLatent = encoder.encode(input);
        Tensor vaeReconstruction = backend.decoder().decode(photoLatent).slice(0);

        DdimScheduler scheduler = new DdimScheduler(schedulerConfig, request.steps());
        ImageInversion inversion = new ImageInversion(denoiser, scheduler, request.guidanceScale());
        List<Tensor> latents = inversion.ddimInversion(photoLatent, embedding);
        ImageInversion.StepListener steps = (stepIndex, innerSteps, loss) -> listener.onInversionStep(
                new ProgressListener.InversionStep(stepIndex, request.steps(), innerSteps, loss))
                == ProgressListener.Progress.CONTINUE;
        List<Tensor> unconditional;
        try {
            unconditional = edit.inversion() == Inversion.NULL_TEXT
                    ? inversion.nullText(latents, embedding, empty, work.count(probe), edit.nullText(), steps)
                    : inversion.negativePromptInversion(embedding, steps);
        } catch (ImageInversion.Stopped stopped) {
            throw new GenerationCancelledException("Cancelled after inversion step " + stopped.stepIndex());
        }
        clock.inversion = clock.lap();

        Tensor invertedLatent = latents.get(latents.size() - 1);
        int resolution = attentionResolution(request.attentionResolution(), unet, invertedLatent.dim(3));
        Run run = new Run(request, listener, prompt, negatives, embedding, denoiser, work, resolution, clock);
        Branches finalLatents = run.denoise(new Branches(invertedLatent, invertedLatent), 0, request.steps(),
                unconditional::get, request.itoStepScale());
        return new ImageEditResult(input.slice(0), vaeReconstruction, edit.inversion(), latents, unconditional,
                result(run, prompt, finalLatents, work, clock));
    }

    /**
     * The latents of both branches between two denoising steps.
     *
     * @param original   the original branch {@code [1, 4, h, w]}
     * @param suppressed the suppressed branch {@code [1, 4, h, w]}
     */
    public record BranchLatents(Tensor original, Tensor suppressed) {

        public BranchLatents {
            Objects.requireNonNull(original, "original");
            Objects.requireNonNull(suppressed, "suppressed");
            if (!java.util.Arrays.equals(original.shape(), suppressed.shape())) {
                throw new IllegalArgumentException("Branch latents differ in shape: " + original + " and "
                        + suppressed);
            }
        }
    }

    /**
     * What {@link #resume} computed.
     *
     * @param latents  both branches after the last step (the original is the suppressed-only run's last state of
     *                 it when fast mode stopped it)
     * @param itoSteps the ITO losses of the optimised steps it ran
     * @param work     its UNet work
     */
    public record Resumed(BranchLatents latents, List<SuppressionResult.ItoStep> itoSteps, UNetWork work) {

        public Resumed {
            itoSteps = List.copyOf(itoSteps);
        }
    }

    /**
     * Runs denoising steps {@code fromStep .. toStep-1} of both branches from given latents, with the schedule
     * {@link #generate} and {@link #edit} follow from that step on: to resume a run, or to check one stretch of a
     * trajectory against another implementation's states. In fast mode the ITO of {@code fromStep} starts cold
     * (there is no previous step's result).
     *
     * @param request       the suppression options (seed and initial latent unused)
     * @param from          both branches' latents before step {@code fromStep}
     * @param fromStep      the first step to run, {@code 0 .. S}
     * @param toStep        the step to stop before, {@code fromStep .. S}
     * @param unconditional the unconditional embedding of every step {@code [77, M]} (size S), or {@code null} for
     *                      the encoding of the request's negative prompt (or "") at every step
     * @throws GenerationCancelledException when the listener cancels
     */
    public Resumed resume(SuppressionRequest request, BranchLatents from, int fromStep, int toStep,
                          List<Tensor> unconditional, ProgressListener listener) {
        if (fromStep < 0 || toStep < fromStep || toStep > request.steps()) {
            throw new IllegalArgumentException("Need 0 <= fromStep <= toStep <= " + request.steps() + ", got "
                    + fromStep + " and " + toStep);
        }
        if (unconditional != null && unconditional.size() != request.steps()) {
            throw new IllegalArgumentException("Expected " + request.steps() + " unconditional embeddings, got "
                    + unconditional.size());
        }
        Clock clock = new Clock();
        TokenizedPrompt prompt = tokenizer.tokenize(request.prompt());
        int[] negatives = negativeTokens(request, prompt);
        Tensor embedding = backend.textEncoder().encode(prompt.inputIds());
        IntFunction<Tensor> unconditionalAt;
        if (unconditional == null) {
            Tensor fixed = backend.textEncoder().encode(tokenizer.tokenize(
                    request.negativePrompt() == null ? "" : request.negativePrompt()).inputIds());
            unconditionalAt = stepIndex -> fixed;
        } else {
            unconditionalAt = unconditional::get;
        }
        WorkCounter work = new WorkCounter(backend.denoiser());
        DenoiserWithAttention denoiser = work.counted();
        int resolution = attentionResolution(request.attentionResolution(), denoiser.description(),
                from.original().dim(3));
        Run run = new Run(request, listener, prompt, negatives, embedding, denoiser, work, resolution, clock);
        Branches last = run.denoise(new Branches(from.original(), from.suppressed()), fromStep, toStep,
                unconditionalAt, request.itoStepScale());
        return new Resumed(new BranchLatents(last.original, last.suppressed), run.itoSteps, work.snapshot());
    }

    private SuppressionResult result(Run run, TokenizedPrompt prompt, Branches finalLatents, WorkCounter work,
                                     Clock clock) {
        boolean withOriginal = !run.originalStopped;
        clock.lap();
        Tensor images = backend.decoder().decode(withOriginal
                ? Tensor.concat(finalLatents.original, finalLatents.suppressed) : finalLatents.suppressed);
        run.health.decoded(images);
        clock.decoding = clock.lap();
        TokenAttention attention = new TokenAttention(displayTokens(prompt), run.originalMaps.mean(),
                run.suppressedMaps.mean());
        List<Integer> suppressed = new ArrayList<>();
        for (int index : run.negatives) {
            suppressed.add(index);
        }
        return new SuppressionResult(withOriginal ? images.slice(0) : null, images.slice(withOriginal ? 1 : 0),
                withOriginal ? finalLatents.original : null, finalLatents.suppressed, suppressed, attention,
                run.resolution, run.itoSteps, work.snapshot(), clock.total(), clock.phases());
    }

    /** Wall time per phase; the ITO time is taken out of the denoising time. */
    private static final class Clock {
        private final long started = System.nanoTime();
        private long last = started;
        private Duration textEncoding = Duration.ZERO;
        private Duration inversion = Duration.ZERO;
        private Duration decoding = Duration.ZERO;
        private long itoNanos;
        private long denoisingNanos;

        Duration lap() {
            long now = System.nanoTime();
            Duration lap = Duration.ofNanos(now - last);
            last = now;
            return lap;
        }

        Duration total() {
            return Duration.ofNanos(System.nanoTime() - started);
        }

        SuppressionResult.PhaseTimes phases() {
            return new SuppressionResult.PhaseTimes(textEncoding, inversion, Duration.ofNanos(denoisingNanos),
                    Duration.ofNanos(itoNanos), decoding);
        }
    }

    private int[] negativeTokens(SuppressionRequest request, TokenizedPrompt prompt) {
        Set<Integer> indices = new TreeSet<>();
        if (!request.suppressWords().isEmpty()) {
            for (int index : TokenIndices.resolveAll(tokenizer, prompt, request.suppressWords())) {
                indices.add(index);
            }
        }
        if (!request.tokenIndices().isEmpty()) {
            int[] explicit = request.tokenIndices().stream().mapToInt(Integer::intValue).toArray();
            for (int index : TokenIndices.validate(prompt, explicit)) {
                indices.add(index);
            }
        }
        return indices.stream().mapToInt(Integer::intValue).toArray();
    }

    private static Tensor initialLatent(SuppressionRequest request, UNetDescription unet) {
        if (request.initialLatent() != null) {
            Tensor latent = request.initialLatent();
            if (latent.dim(1) != unet.inChannels()) {
                throw new IllegalArgumentException("initialLatent has " + latent.dim(1) + " channels; the UNet takes "
                        + unet.inChannels());
            }
            return latent;
        }
        int side = latentSide(request, unet);
        return TorchGaussianNoise.randn(request.seed(), 1, unet.inChannels(), side, side);
    }

    /** The latent side: the requested image size / 8, or the UNet's sample size. */
    private static int latentSide(SuppressionRequest request, UNetDescription unet) {
        return request.imageSize() > 0 ? request.imageSize() / VAE_DOWNSAMPLING : unet.sampleSize();
    }

    /** The requested resolution if the UNet has cross-attention there, else the level nearest to 16. */
    static int attentionResolution(int requested, UNetDescription unet, int latentSide) {
        Set<Integer> available = new TreeSet<>();
        for (AttentionLayerInfo layer : unet.attentionLayers()) {
            if (layer.id().kind() == AttentionKind.CROSS && layer.id().place() != UNetPlace.MID) {
                available.add(layer.resolution(latentSide));
            }
        }
        if (available.isEmpty()) {
            throw new IllegalArgumentException("The UNet has no cross-attention layers in its down or up blocks");
        }
        if (requested > 0) {
            if (!available.contains(requested)) {
                throw new IllegalArgumentException("No cross-attention layers at " + requested + "x" + requested
                        + " for a " + latentSide + "x" + latentSide + " latent; available: " + available);
            }
            return requested;
        }
        int best = -1;
        for (int candidate : available) {
            // nearest to 16; on a tie (e.g. 12 and 24 for SD 2.1 at 768 px) the finer map
            if (best < 0 || Math.abs(candidate - PREFERRED_ATTENTION_RESOLUTION)
                    <= Math.abs(best - PREFERRED_ATTENTION_RESOLUTION)) {
                best = candidate;
            }
        }
        return best;
    }

    private List<String> displayTokens(TokenizedPrompt prompt) {
        List<String> tokens = new ArrayList<>();
        for (int index = 1; index <= prompt.length() - 2; index++) {
            tokens.add(tokenizer.decode(prompt.inputId(index)));
        }
        return tokens;
    }

    private record Branches(Tensor original, Tensor suppressed) {
    }

    /** A running sum of one branch's cross-attention maps, for display. */
    private static final class MapAverage {
        private final int resolution;
        private float[] sum;
        private int count;

        MapAverage(int resolution) {
            this.resolution = resolution;
        }

        void add(float[] cross, int element, int perElement) {
            if (sum == null) {
                sum = new float[perElement];
            }
            for (int i = 0; i < perElement; i++) {
                sum[i] += cross[element * perElement + i];
            }
            count++;
        }

        Tensor mean() {
            if (sum == null) {
                return Tensor.zeros(resolution, resolution, 77);
            }
            float[] mean = new float[sum.length];
            for (int i = 0; i < sum.length; i++) {
                mean[i] = sum[i] / count;
            }
            return Tensor.wrapOwned(mean, resolution, resolution, sum.length / (resolution * resolution));
        }
    }

    /** The state of one generation. */
    private final class Run {
        private final SuppressionRequest request;
        private final ProgressListener listener;
        private final int promptLength;
        private final int[] negatives;
        private final Tensor embedding;
        private final DenoiserWithAttention denoiser;
        private final DdimScheduler scheduler;
        private final SoftWeightedRegularization regularization;
        private final AttentionLoss loss;
        private final AttentionCapture itoCapture;
        private final AttentionCapture displayCapture;
        private final InferenceTimeOptimization optimization;
        private final boolean fast;
        private final List<SuppressionResult.ItoStep> itoSteps = new ArrayList<>();
        private final MapAverage originalMaps;
        private final MapAverage suppressedMaps;
        private final int resolution;
        private final Clock clock;
        private final NumericalHealth health;
        private Tensor regularisedEmbedding;
        /** Fast mode: how many steps were optimised so far. */
        private int optimisedSteps;
        /** Fast mode's warm start: the previous optimised step's result. */
        private Tensor previousOptimised;
        /** Fast mode with suppressedOnly: the original branch no longer runs. */
        private boolean originalStopped;

        Run(SuppressionRequest request, ProgressListener listener, TokenizedPrompt prompt, int[] negatives,
            Tensor embedding, DenoiserWithAttention denoiser, WorkCounter work, int resolution, Clock clock) {
            this.request = request;
            this.listener = listener;
            this.promptLength = prompt.length();
            this.negatives = negatives;
            this.embedding = embedding;
            this.health = new NumericalHealth(backend.precision(), schedulerConfig, request.steps());
            health.embedding("prompt", embedding);
            this.denoiser = health.watch(denoiser);
            this.resolution = resolution;
            this.clock = clock;
            this.fast = request.mode() == Mode.FAST;
            this.scheduler = new DdimScheduler(schedulerConfig, request.steps());
            this.regularization = new SoftWeightedRegularization(request.swrVariant(), request.alpha());
            this.loss = new AttentionLoss(promptLength, negatives, request.lossWeights(), TokenMaskOptions.REFERENCE);
            this.itoCapture = AttentionCapture.reference(resolution, request.itoHeadAveraging());
            // Reference mode displays every head, as the reference's batch-2 passes average them; fast mode reads
            // its ITO maps from the same passes, so it displays the heads the ITO uses.
            this.displayCapture = fast ? itoCapture : new AttentionCapture(resolution,
                    EnumSet.of(UNetPlace.UP, UNetPlace.DOWN), EnumSet.of(UNetPlace.UP, UNetPlace.DOWN, UNetPlace.MID),
                    HeadAveraging.ALL_HEADS, Set.of());
            ForwardExtent extent = fast ? ForwardExtent.THROUGH_CAPTURED_LAYERS : ForwardExtent.FULL;
            ContextGradient gradient = backend.gradientProbe()
                    .<ContextGradient>map(probe -> new AutogradContextGradient(work.count(probe), extent))
                    .orElseGet(() -> new FiniteDifferenceContextGradient(denoiser, finiteDifferences,
                            promptLength, negatives, 2 * finiteDifferences.directions() + 1));
            this.optimization = new InferenceTimeOptimization(health.watch(gradient));
            this.originalMaps = new MapAverage(resolution);
            this.suppressedMaps = new MapAverage(resolution);
        }

        /** Steps {@code fromStep .. toStep-1} from the given latents. */
        Branches denoise(Branches from, int fromStep, int toStep, IntFunction<Tensor> unconditional,
                         double itoScale) {
            int steps = request.steps();
            int start = request.erasureStartStep();
            int lastItoStep = lastOptimisedStep(start);
            Tensor original = from.original;
            Tensor suppressed = from.suppressed;
            for (int stepIndex = fromStep; stepIndex < toStep; stepIndex++) {
                int timestep = scheduler.timestep(stepIndex);
                // §3: from τ on, ĉ is SWR of the ORIGINAL c at every step; ITO updates do not carry over (in
                // reference mode; fast mode warm-starts ITO from the previous step's result). SWR(c) is the same at
                // every step, so it is computed once.
                Tensor erased = stepIndex >= start ? regularised() : embedding;
                Phase phase = stepIndex >= start ? Phase.REGULARISED : Phase.SHARED;
                Tensor uncond = unconditional.apply(stepIndex);
                boolean optimised = optimises(stepIndex, start, erased);
                Branches next;
                if (!fast) {
                    if (optimised) {
                        erased = optimiseReference(stepIndex, timestep, original, suppressed, erased, itoScale);
                    }
                    next = stepBoth(timestep, original, suppressed, uncond, erased);
                } else if (phase == Phase.SHARED && original.equals(suppressed)) {
                    // before τ the branches are one: compute it once
                    Tensor shared = stepOne(timestep, original, uncond, embedding, null, true, true).latent;
                    next = new Branches(shared, shared);
                } else if (optimised) {
                    OneStep originalStep = stepOne(timestep, original, uncond, embedding, itoCapture, true, false);
                    erased = optimiseFast(stepIndex, timestep, originalStep.maps, suppressed, erased, itoScale);
                    Tensor next2 = stepOne(timestep, suppressed, uncond, erased, null, false, true).latent;
                    next = new Branches(originalStep.latent, next2);
                } else if (originalStopped || (request.suppressedOnly() && stepIndex > lastItoStep)) {
                    originalStopped = true;
                    next = new Branches(original, stepOne(timestep, suppressed, uncond, erased, null, false, true)
                            .latent);
                } else {
                    next = stepBoth(timestep, original, suppressed, uncond, erased);
                }
                if (optimised) {
                    phase = Phase.OPTIMISED;
                }
                original = next.original;
                suppressed = next.suppressed;
                health.afterStep(stepIndex, original, suppressed);
                Progress progress = listener.onDenoisingStep(new ProgressListener.DenoisingStep(stepIndex, steps,
                        timestep, phase, originalStopped ? null : original, suppressed, erased));
                if (progress == Progress.CANCEL) {
                    throw new GenerationCancelledException("Cancelled after denoising step " + stepIndex);
                }
            }
            return new Branches(original, suppressed);
        }

        /** SWR(c), computed on first use. */
        private Tensor regularised() {
            if (regularisedEmbedding == null) {
                regularisedEmbedding = regularization.apply(embedding, negatives, promptLength);
            }
            return regularisedEmbedding;
        }

        /** The last step ITO runs at, or -1 when it runs at none. */
        private int lastOptimisedStep(int start) {
            if (request.itoIterations() == 0 || !anyWeight()) {
                return -1;
            }
            int last = Math.min(request.maxItoStep(), request.steps()) - 1;
            return last >= start ? last : -1;
        }

        private boolean anyWeight() {
            LossWeights weights = request.lossWeights();
            return weights.retain() != 0 || weights.erase() != 0 || weights.selfRetain() != 0
                    || weights.selfErase() != 0;
        }

        /** The reference's condition: in the ITO window, ITO asked for, SWR changed something, some λ nonzero. */
        private boolean optimises(int stepIndex, int start, Tensor erased) {
            return stepIndex >= start && stepIndex < request.maxItoStep() && request.itoIterations() > 0
                    && anyWeight() && !erased.equals(embedding);
        }

        /** ALGORITHM.md §4 as the reference runs it: a separate full pass for the maps, then fixed iterations. */
        private Tensor optimiseReference(int stepIndex, int timestep, Tensor original, Tensor suppressed,
                                         Tensor erased, double itoScale) {
            long started = System.nanoTime();
            DenoiserOutput referencePass = denoiser.denoise(original, timestep, embedding.asBatchOfOne(), itoCapture);
            int iterations = request.itoIterations();
            InferenceTimeOptimization.Outcome outcome = optimization.optimise(suppressed, timestep, erased,
                    itoCapture, loss.objective(referencePass.attention()), iterations, stepSize(stepIndex, itoScale),
                    (iteration, value, updated) -> listener.onItoIteration(new ProgressListener.ItoIteration(
                            stepIndex, iteration, iterations, value, updated)) == Progress.CONTINUE);
            return finishIto(stepIndex, outcome, outcome.losses(), started);
        }

        /**
         * Fast mode: the reference maps come from the original branch's own conditional pass of this step; the
         * optimisation starts from the previous step's result, takes a few steps and keeps the best iterate.
         */
        private Tensor optimiseFast(int stepIndex, int timestep, AttentionMaps referenceMaps, Tensor suppressed,
                                    Tensor erased, double itoScale) {
            long started = System.nanoTime();
            FastItoOptions options = request.fastIto();
            boolean cold = previousOptimised == null || !options.warmStart();
            int updates = Math.min(request.itoIterations(), options.updates(cold ? 0 : optimisedSteps));
            Tensor start = cold ? erased : previousOptimised;
            var objective = loss.objective(referenceMaps);
            int planned = updates + 1;
            InferenceTimeOptimization.Outcome outcome = optimization.optimiseKeepingBest(suppressed, timestep, start,
                    itoCapture, objective, updates, stepSize(stepIndex, itoScale),
                    cold ? options.firstStepRule() : options.rule(),
                    candidate -> objective.evaluate(denoiser.attention(suppressed, timestep, candidate.asBatchOfOne(),
                            itoCapture)).loss(),
                    (iteration, value, updated) -> listener.onItoIteration(new ProgressListener.ItoIteration(
                            stepIndex, iteration, planned, value, updated)) == Progress.CONTINUE);
            previousOptimised = outcome.embedding();
            optimisedSteps++;
            double[] losses = outcome.losses();
            double best = Double.POSITIVE_INFINITY;
            for (double value : losses) {
                best = Math.min(best, value);
            }
            // the step's last loss is the loss of the embedding it uses: the best iterate's
            double[] reported = java.util.Arrays.copyOf(losses, losses.length + 1);
            reported[losses.length] = best;
            return finishIto(stepIndex, outcome, reported, started);
        }

        private Tensor finishIto(int stepIndex, InferenceTimeOptimization.Outcome outcome, double[] losses,
                                 long started) {
            itoSteps.add(new SuppressionResult.ItoStep(stepIndex, losses));
            clock.itoNanos += System.nanoTime() - started;
            if (outcome.cancelled()) {
                throw new GenerationCancelledException("Cancelled during ITO at denoising step " + stepIndex);
            }
            return outcome.embedding();
        }

        /** {@code s·√r_i}, with {@code r = numpy.linspace(1, 0.1, S)} (§4.2) rounded as numpy computes it. */
        private double stepSize(int stepIndex, double itoScale) {
            int steps = request.steps();
            double range;
            if (steps == 1) {
                range = 1.0;
            } else if (stepIndex == steps - 1) {
                range = 0.1;
            } else {
                range = stepIndex * ((0.1 - 1.0) / (steps - 1)) + 1.0;
            }
            return itoScale * Math.sqrt(range);
        }

        /** One denoising step of both branches: [uncond orig, uncond erased, cond orig, cond erased] as one batch. */
        private Branches stepBoth(int timestep, Tensor original, Tensor suppressed, Tensor unconditional,
                                  Tensor erased) {
            long started = System.nanoTime();
            Tensor latents = Tensor.concat(original, suppressed, original, suppressed);
            Tensor contexts = Tensor.stack(unconditional, unconditional, embedding, erased);
            DenoiserOutput output = denoiser.denoise(latents, timestep, contexts, displayCapture);
            float[] cross = output.attention().cross().toArray();
            int perElement = cross.length / 4;
            originalMaps.add(cross, 2, perElement);
            suppressedMaps.add(cross, 3, perElement);
            Tensor next = scheduler.step(guided(output.noisePrediction(), 2), timestep,
                    Tensor.concat(original, suppressed)).prevSample();
            clock.denoisingNanos += System.nanoTime() - started;
            return new Branches(next.batchElement(0), next.batchElement(1));
        }

        /** A branch's step after one pass. */
        private record OneStep(Tensor latent, AttentionMaps maps) {
        }

        /**
         * One denoising step of one branch: [uncond, cond] as one batch, the conditional pass's maps captured with
         * {@code capture} (or the display capture) and added to the display maps of the branches named.
         */
        private OneStep stepOne(int timestep, Tensor latent, Tensor unconditional, Tensor condition,
                                AttentionCapture capture, boolean showsOriginal, boolean showsSuppressed) {
            long started = System.nanoTime();
            DenoiserOutput output = denoiser.denoise(Tensor.concat(latent, latent), timestep,
                    Tensor.stack(unconditional, condition), capture != null ? capture : displayCapture);
            float[] cross = output.attention().cross().toArray();
            int perElement = cross.length / 2;
            if (showsOriginal) {
                originalMaps.add(cross, 1, perElement);
            }
            if (showsSuppressed) {
                suppressedMaps.add(cross, 1, perElement);
            }
            Tensor next = scheduler.step(guided(output.noisePrediction(), 1), timestep, latent).prevSample();
            clock.denoisingNanos += System.nanoTime() - started;
            return new OneStep(next, output.attention().element(1));
        }

        /** {@code uncond + g·(cond − uncond)} per branch, in float32 (ptp_utils.diffusion_step). */
        private Tensor guided(Tensor noise, int branches) {
            return ClassifierFreeGuidance.guide(noise, branches, request.guidanceScale());
        }
    }
}
