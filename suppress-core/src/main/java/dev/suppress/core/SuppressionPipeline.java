package dev.suppress.core;

import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.image.Images;
import dev.suppress.core.internal.inversion.ImageInversion;
import dev.suppress.core.internal.ito.AutogradContextGradient;
import dev.suppress.core.internal.ito.ContextGradient;
import dev.suppress.core.internal.ito.FiniteDifferenceContextGradient;
import dev.suppress.core.internal.ito.InferenceTimeOptimization;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.internal.schedule.TorchGaussianNoise;
import dev.suppress.core.internal.text.TokenIndices;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntFunction;

/**
 * Generated-image suppression and real-image editing (ALGORITHM.md §3-§6) on any backend, through the seams of
 * {@code core.backend}: the set-up that generate and edit share, around one {@link SuppressionRun}.
 *
 * <p>Not thread-safe: one generation at a time per pipeline (the backends hold native state).
 */
final class SuppressionPipeline {

    /** Image pixels per latent pixel: the VAE of SD 1.x and 2.x halves the side three times. */
    private static final int VAE_DOWNSAMPLING = 8;

    /**
     * The map side ITO aims for: the 16×16 level of SD 1.x at 512 px (ALGORITHM.md §4). For a rectangle the level
     * whose maps' geometric-mean side {@code sqrt(h_l * w_l)} is nearest to it: the level whose pixel count is
     * nearest to 16×16 on the scale of sides, which for a square is the side itself, so squares pick as before.
     */
    static final int PREFERRED_ATTENTION_RESOLUTION = 16;

    private final DiffusionBackend backend;
    private final ClipTokenizer tokenizer;
    private final SchedulerConfig schedulerConfig;
    private final FiniteDifferenceOptions finiteDifferences;
    /** The model's entry in an inversion's fingerprint ({@link InversionFingerprint#model}). */
    private final String model;

    /**
     * @param backend           the model parts (not closed by the pipeline)
     * @param tokenizer         the model's tokenizer
     * @param schedulerConfig   the DDIM configuration
     * @param finiteDifferences how ITO estimates gradients when the backend has no autograd probe
     * @param model             the model in the fingerprint of the inversions it makes and reuses
     */
    SuppressionPipeline(DiffusionBackend backend, ClipTokenizer tokenizer, SchedulerConfig schedulerConfig,
                        FiniteDifferenceOptions finiteDifferences, String model) {
        this.backend = Objects.requireNonNull(backend, "backend");
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.schedulerConfig = Objects.requireNonNull(schedulerConfig, "schedulerConfig");
        this.finiteDifferences = Objects.requireNonNull(finiteDifferences, "finiteDifferences");
        this.model = Objects.requireNonNull(model, "model");
    }

    /** A pipeline whose inversions name the model only by its backend (for tests on backends without a folder). */
    SuppressionPipeline(DiffusionBackend backend, ClipTokenizer tokenizer, SchedulerConfig schedulerConfig,
                        FiniteDifferenceOptions finiteDifferences) {
        this(backend, tokenizer, schedulerConfig, finiteDifferences, "a " + backend.name() + " model (no folder)");
    }

    /** What one run needs before its first step: the prompt, its embedding and the counted denoiser. */
    private final class Setup {
        final SuppressionRequest request;
        final ProgressListener listener;
        final RunClock clock = new RunClock();
        final TokenizedPrompt prompt;
        final int[] negatives;
        final Tensor embedding;
        /** The prompt's pooled embedding {@code [P]} when the UNet takes one (SDXL), else null. */
        final Tensor pooledPrompt;
        final WorkCounter work = new WorkCounter(backend.denoiser());
        final NumericalHealth health;
        /** Polls the listener before every network pass. */
        final Cancellation cancellation;
        /** The counted denoiser, its inputs and outputs checked for non-finite values, cancellable before each call. */
        final DenoiserWithAttention denoiser;

        Setup(SuppressionRequest request, ProgressListener listener) {
            this.request = request;
            this.listener = Objects.requireNonNull(listener, "listener");
            this.prompt = tokenizer.tokenize(request.prompt());
            this.negatives = negativeTokens(request, prompt);
            this.cancellation = new Cancellation(listener);
            cancellation.check("text encoding");
            this.embedding = backend.textEncoder().encode(prompt.inputIds(), request.clipSkip());
            this.pooledPrompt = backend.textEncoder().pooled(prompt.inputIds()).orElse(null);
            this.health = new NumericalHealth(backend.precision(), schedulerConfig, request.schedule().steps());
            health.embedding("prompt", embedding);
            this.denoiser = health.watch(cancellation.guard(work.counted()));
        }

        /**
         * The unconditional embedding and the run's pooled embeddings for a negative prompt (null: none): its
         * encoding, or zeros for both when there is none and the model says {@code force_zeros_for_empty_prompt}
         * (SDXL base, as its pipeline does).
         */
        Unconditional unconditional(String negativePrompt) {
            return SuppressionPipeline.this.unconditional(negativePrompt, embedding, pooledPrompt, cancellation,
                    request.clipSkip());
        }

        /** Refuses, by name, what needs unconditional embeddings whose pooled embeddings are unknown (SDXL). */
        void requireNoPooledEmbedding(String what) {
            if (pooledPrompt != null) {
                throw new IllegalArgumentException(what + " is not available for SDXL: the pooled text embeddings "
                        + "of given unconditional embeddings are unknown");
            }
        }

        /** The backend's probe, counted in the run's work when {@code counted}, cancellable before each call. */
        GradientProbe probe(GradientProbe probe, boolean counted) {
            return cancellation.guard(counted ? work.count(probe) : probe);
        }

        Tensor decode(Tensor latents) {
            return backend.decoder().decode(latents, cancellation.checkpoint("a VAE decoder pass"));
        }

        SuppressionRun run(IntFunction<Tensor> unconditional, Tensor latent, PooledEmbeddings pooled) {
            int latentHeight = latent.dim(2);
            int latentWidth = latent.dim(3);
            int factor = attentionFactor(request.ito().attentionResolution(), denoiser.description(), latentHeight,
                    latentWidth);
            int promptLength = prompt.length();
            boolean fast = request.schedule().mode() == Mode.FAST;
            ForwardExtent extent = fast ? ForwardExtent.THROUGH_CAPTURED_LAYERS : ForwardExtent.FULL;
            InferenceTimeOptimization optimization = new InferenceTimeOptimization(
                    health.watch(gradient(true, denoiser, extent, promptLength, pooled)));
            DenoiserWithAttention uncounted = cancellation.guard(backend.denoiser());
            InferenceTimeOptimization audit = request.ito().audit()
                    ? new InferenceTimeOptimization(gradient(false, uncounted, ForwardExtent.FULL,
                    promptLength, pooled)) : null;
            return new SuppressionRun(request, listener, promptLength, negatives, embedding, unconditional,
                    denoiser, new DdimScheduler(schedulerConfig, request.schedule().steps()),
                    latentHeight / factor, latentWidth / factor, clock,
                    optimization, audit, uncounted, health, pooled);
        }

        /**
         * Autograd when the backend has it (in the run's work when {@code counted}), else finite differences; every
         * pass conditional on the prompt (with its pooled embedding, when the UNet takes one).
         */
        private ContextGradient gradient(boolean counted, DenoiserWithAttention on, ForwardExtent extent,
                                         int promptLength, PooledEmbeddings pooled) {
            return backend.gradientProbe()
                    .<ContextGradient>map(probe -> new AutogradContextGradient(
                            pooled.conditional(probe(probe, counted)), extent))
                    .orElseGet(() -> new FiniteDifferenceContextGradient(pooled.conditional(on), finiteDifferences,
                            promptLength, negatives, 2 * finiteDifferences.directions() + 1));
        }

        SuppressionResult result(SuppressionRun run, Branches last) {
            boolean withOriginal = !last.originalStopped();
            clock.lap();
            Tensor images = decode(withOriginal
                    ? Tensor.concat(last.original(), last.suppressed()) : last.suppressed());
            clock.decoding = clock.lap();
            health.decoded(images);
            TokenAttention attention = new TokenAttention(displayTokens(prompt), run.originalMaps.mean(),
                    run.suppressedMaps.mean());
            List<Integer> suppressed = new ArrayList<>();
            for (int index : negatives) {
                suppressed.add(index);
            }
            return new SuppressionResult(withOriginal ? images.slice(0) : null, images.slice(withOriginal ? 1 : 0),
                    last.original(), last.suppressed(), suppressed, attention,
                    Math.max(run.mapHeight, run.mapWidth),
                    run.ito().itoSteps, run.ito().audits, work.snapshot(), clock.total(), clock.phases());
        }
    }

    /**
     * Generates the original and the suppressed image.
     *
     * @throws IllegalArgumentException       when a word is not in the prompt, an index is out of range, or the
     *                                        request does not fit the model
     * @throws GenerationCancelledException when the listener cancels
     */
    SuppressionResult generate(SuppressionRequest request, ProgressListener listener) {
        Setup setup = new Setup(request, listener);
        Unconditional unconditional = setup.unconditional(request.negativePrompt());
        setup.clock.textEncoding = setup.clock.lap();
        Tensor initialLatent = initialLatent(request, setup.denoiser.description());
        SuppressionRun run = setup.run(stepIndex -> unconditional.embedding(), initialLatent,
                unconditional.pooled());
        Branches last = run.denoise(Branches.shared(initialLatent), 0, request.schedule().steps());
        return setup.result(run, last);
    }

    /**
     * Edits a real photo (ALGORITHM.md §6): encode it, invert it by DDIM, find the unconditional embedding of every
     * step (null-text or negative-prompt inversion), then run both branches from the inverted latent with those
     * embeddings and the request's ITO scale (5 by default for photos). Given a saved inversion, checks its
     * fingerprint and shapes against the request and runs from it instead of inverting: the same result, bit for
     * bit, without the inversion's UNet work.
     *
     * @throws IllegalArgumentException       when a word is not in the prompt, null-text inversion is asked of a
     *                                        backend without autograd, or a saved inversion does not fit the request
     * @throws IllegalStateException          when the backend has no VAE encoder
     * @throws GenerationCancelledException when the listener cancels
     */
    ImageEditResult edit(ImageEditRequest edit, ProgressListener listener) {
        SuppressionRequest request = edit.suppression();
        LatentEncoder encoder = encoder();
        SavedInversion saved = edit.saved();
        if (saved != null && request.clipSkip() != 0) {
            throw new IllegalArgumentException("clipSkip " + request.clipSkip() + " cannot be combined with a saved "
                    + "inversion: inversion files are made without clip skip, and their fingerprint does not say");
        }
        GradientProbe probe = saved == null ? probeFor(edit.inversion()) : null;
        Setup setup = new Setup(request, listener);
        RunClock clock = setup.clock;
        // null-text inversion starts from the unconditional embedding a generation without a negative prompt uses
        // (SDXL base: zeros); its pooled embedding, if any, stays that one's
        Unconditional empty = saved == null || setup.pooledPrompt != null ? setup.unconditional(null) : null;
        clock.textEncoding = clock.lap();

        InversionRequest inversionRequest = edit.inversionRequest();
        int steps = request.schedule().steps();
        UNetDescription unet = setup.denoiser.description();
        int latentSide = latentSide(inversionRequest.imageSize(), unet);
        Tensor input = photo(inversionRequest, latentSide);
        Map<String, String> fingerprint = fingerprint(inversionRequest, input);
        if (saved != null) {
            Path file = saved.source().orElse(null);
            saved.requireFingerprint(file, edit.inversion(), fingerprint);
            saved.requireShapes(file, new int[] {1, unet.inChannels(), latentSide, latentSide},
                    setup.embedding.shape(), steps);
        }
        setup.cancellation.check("the VAE encoder pass");
        Tensor photoLatent = encoder.encode(input);
        Tensor vaeReconstruction = setup.decode(photoLatent).slice(0);

        Inverted inverted;
        UNetWork inversionWork;
        if (saved == null) {
            inverted = invert(inversionRequest, photoLatent, setup.embedding, empty.embedding(), setup.pooledPrompt,
                    empty.pooled().unconditional(), setup.denoiser, probe == null ? null : setup.probe(probe, true),
                    listener, fingerprint);
            inversionWork = setup.work.snapshot();
        } else {
            inverted = Inverted.from(saved, steps);
            inversionWork = UNetWork.NONE;
        }
        clock.inversion = clock.lap();

        Tensor invertedLatent = inverted.saved().inverted();
        List<Tensor> unconditional = inverted.unconditionals();
        // negative-prompt inversion's unconditional embedding is the prompt's, its pooled embedding too
        PooledEmbeddings pooled = setup.pooledPrompt == null ? PooledEmbeddings.NONE
                : new PooledEmbeddings(setup.pooledPrompt, inverted.saved().method() == Inversion.NEGATIVE_PROMPT
                ? setup.pooledPrompt : empty.pooled().unconditional());
        SuppressionRun run = setup.run(unconditional::get, invertedLatent, pooled);
        Branches last = run.denoise(Branches.shared(invertedLatent), 0, steps);
        return new ImageEditResult(input.slice(0), vaeReconstruction, edit.inversion(), inverted.latents(),
                unconditional, inverted.saved(), inversionWork, setup.result(run, last));
    }

    /**
     * Inverts a photo without editing it, for later edits to reuse ({@link ImageEditRequest.Builder#inversion(
     * SavedInversion)}): what {@link #edit} does before its first denoising step.
     *
     * @throws IllegalArgumentException       when null-text inversion is asked of a backend without autograd
     * @throws IllegalStateException          when the backend has no VAE encoder
     * @throws GenerationCancelledException when the listener cancels
     */
    SavedInversion invert(InversionRequest request, ProgressListener listener) {
        Objects.requireNonNull(listener, "listener");
        LatentEncoder encoder = encoder();
        GradientProbe probe = probeFor(request.inversion());
        Cancellation cancellation = new Cancellation(listener);
        cancellation.check("text encoding");
        TextEncoder text = backend.textEncoder();
        int[] promptIds = tokenizer.tokenize(request.prompt()).inputIds();
        Tensor embedding = text.encode(promptIds);
        Tensor promptPooled = text.pooled(promptIds).orElse(null);
        Unconditional empty = unconditional(null, embedding, promptPooled, cancellation, 0);
        NumericalHealth health = new NumericalHealth(backend.precision(), schedulerConfig, request.steps());
        health.embedding("prompt", embedding);
        WorkCounter work = new WorkCounter(backend.denoiser());
        DenoiserWithAttention denoiser = health.watch(cancellation.guard(work.counted()));
        Tensor input = photo(request, latentSide(request.imageSize(), denoiser.description()));
        cancellation.check("the VAE encoder pass");
        Tensor photoLatent = encoder.encode(input);
        return invert(request, photoLatent, embedding, empty.embedding(), promptPooled,
                empty.pooled().unconditional(), denoiser,
                probe == null ? null : cancellation.guard(work.count(probe)), listener, fingerprint(request, input))
                .saved();
    }

    /**
     * The unconditional embedding for a negative prompt (null: none) and the pooled embeddings with it: its
     * encoding, or zeros for both when there is none and the model says {@code force_zeros_for_empty_prompt} (SDXL
     * base, as its pipeline does).
     *
     * @param embedding    the prompt's embedding (its shape for the zeros)
     * @param pooledPrompt the prompt's pooled embedding, or null for a UNet that takes none
     */
    private Unconditional unconditional(String negativePrompt, Tensor embedding, Tensor pooledPrompt,
                                        Cancellation cancellation, int clipSkip) {
        TextEncoder text = backend.textEncoder();
        if (negativePrompt == null && text.zerosWithoutNegativePrompt()) {
            return new Unconditional(Tensor.zeros(embedding.shape()), new PooledEmbeddings(pooledPrompt,
                    pooledPrompt == null ? null : Tensor.zeros(pooledPrompt.shape())));
        }
        int[] ids = tokenizer.tokenize(negativePrompt == null ? "" : negativePrompt).inputIds();
        cancellation.check("text encoding");
        Tensor encoded = text.encode(ids, clipSkip);
        return new Unconditional(encoded, pooledPrompt == null ? PooledEmbeddings.NONE
                : new PooledEmbeddings(pooledPrompt, text.pooled(ids).orElseThrow()));
    }

    /**
     * The unconditional branch of a run without a per-step inversion.
     *
     * @param embedding the unconditional per-token embedding {@code [77, M]}
     * @param pooled    the pooled embeddings of the prompt and of the unconditional passes (SDXL), or
     *                  {@link PooledEmbeddings#NONE}
     */
    private record Unconditional(Tensor embedding, PooledEmbeddings pooled) {
    }

    /**
     * What an inversion gives a run.
     *
     * @param saved          the inverted latent and the embeddings as saved, with the fingerprint
     * @param latents        DDIM inversion's {@code S + 1} latents, or only the inverted one when reused
     * @param unconditionals the unconditional embedding of each of the {@code S} steps
     */
    private record Inverted(SavedInversion saved, List<Tensor> latents, List<Tensor> unconditionals) {

        /** A saved inversion as a run uses it: negative-prompt inversion's one embedding at every step. */
        static Inverted from(SavedInversion saved, int steps) {
            List<Tensor> unconditionals = saved.method() == Inversion.NEGATIVE_PROMPT
                    ? Collections.nCopies(steps, saved.unconditionals().get(0)) : saved.unconditionals();
            return new Inverted(saved, List.of(saved.inverted()), unconditionals);
        }
    }

    /**
     * DDIM inversion, then null-text or negative-prompt inversion, on the counted denoiser.
     *
     * @param promptPooled the prompt's pooled embedding for a UNet that takes one (SDXL), else null
     * @param emptyPooled  the unconditional passes' pooled embedding, else null
     */
    private Inverted invert(InversionRequest request, Tensor photoLatent, Tensor embedding, Tensor empty,
                            Tensor promptPooled, Tensor emptyPooled, DenoiserWithAttention denoiser,
                            GradientProbe countedProbe, ProgressListener listener, Map<String, String> fingerprint) {
        int steps = request.steps();
        DdimScheduler scheduler = new DdimScheduler(schedulerConfig, steps);
        ImageInversion inversion = new ImageInversion(denoiser, scheduler, request.guidanceScale(), promptPooled,
                emptyPooled);
        List<Tensor> latents = inversion.ddimInversion(photoLatent, embedding);
        ImageInversion.StepListener inversionSteps = (stepIndex, innerSteps, loss) -> listener.onInversionStep(
                new ProgressListener.InversionStep(stepIndex, steps, innerSteps, loss))
                == ProgressListener.Progress.CONTINUE;
        List<Tensor> unconditional;
        try {
            unconditional = request.inversion() == Inversion.NULL_TEXT
                    ? inversion.nullText(latents, embedding, empty, countedProbe, request.nullText(), inversionSteps)
                    : inversion.negativePromptInversion(embedding, inversionSteps);
        } catch (ImageInversion.Stopped stopped) {
            throw new GenerationCancelledException("Cancelled after inversion step " + stopped.stepIndex());
        }
        Tensor invertedLatent = latents.get(latents.size() - 1);
        List<Tensor> toSave = request.inversion() == Inversion.NULL_TEXT ? unconditional : List.of(embedding);
        return new Inverted(new SavedInversion(invertedLatent, request.inversion(), toSave, fingerprint), latents,
                unconditional);
    }

    private LatentEncoder encoder() {
        return backend.encoder().orElseThrow(() -> new IllegalStateException(
                "The " + backend.name() + " backend's model has no VAE encoder; editing a photo needs one"));
    }

    /** The autograd probe null-text inversion needs, {@code null} for negative-prompt inversion. */
    private GradientProbe probeFor(Inversion inversion) {
        if (inversion != Inversion.NULL_TEXT) {
            return null;
        }
        return backend.gradientProbe().orElseThrow(() -> new IllegalArgumentException("Null-text inversion "
                + "needs a backend with autograd; the " + backend.name() + " backend can use negative-prompt "
                + "inversion (Inversion.NEGATIVE_PROMPT)"));
    }

    /** The photo as the model sees it: centre-cropped and resized, {@code [1, 3, H, W]} in {@code [-1, 1]}. */
    private static Tensor photo(InversionRequest request, int latentSide) {
        return Images.toTensor(Images.centerCropAndResize(request.image(), latentSide * VAE_DOWNSAMPLING));
    }

    private Map<String, String> fingerprint(InversionRequest request, Tensor photo) {
        return InversionFingerprint.of(model, backend.name() + " " + backend.precision().label(), schedulerConfig,
                request, photo);
    }

    /**
     * What {@link #denoise} computed.
     *
     * @param latents  both branches after the last step (no original once a suppressed-only run stopped it)
     * @param itoSteps the ITO losses of the optimised steps it ran
     * @param work     its UNet work
     */
    record Stretch(Branches latents, List<SuppressionResult.ItoStep> itoSteps, UNetWork work) {
    }

    /**
     * Steps {@code fromStep .. toStep-1} of both branches from given latents, with the schedule {@link #generate}
     * and {@link #edit} follow from that step on (fast mode's ITO of {@code fromStep} starts cold). Package-private:
     * the parity tests run the reference's stretches from its own states with it (teacher forcing).
     *
     * @param unconditional the unconditional embedding of every step {@code [77, M]} (size S), or {@code null} for
     *                      the encoding of the request's negative prompt (or "") at every step
     */
    Stretch denoise(SuppressionRequest request, Branches from, int fromStep, int toStep,
                    List<Tensor> unconditional, ProgressListener listener) {
        int steps = request.schedule().steps();
        if (fromStep < 0 || toStep < fromStep || toStep > steps) {
            throw new IllegalArgumentException("Need 0 <= fromStep <= toStep <= " + steps + ", got " + fromStep
                    + " and " + toStep);
        }
        if (unconditional != null && unconditional.size() != steps) {
            throw new IllegalArgumentException("Expected " + steps + " unconditional embeddings, got "
                    + unconditional.size());
        }
        Setup setup = new Setup(request, listener);
        IntFunction<Tensor> unconditionalAt;
        PooledEmbeddings pooled;
        if (unconditional == null) {
            Unconditional fixed = setup.unconditional(request.negativePrompt());
            unconditionalAt = stepIndex -> fixed.embedding();
            pooled = fixed.pooled();
        } else {
            setup.requireNoPooledEmbedding("Resuming from given unconditional embeddings");
            unconditionalAt = unconditional::get;
            pooled = PooledEmbeddings.NONE;
        }
        SuppressionRun run = setup.run(unconditionalAt, from.suppressed(), pooled);
        Branches last = run.denoise(from, fromStep, toStep);
        return new Stretch(last, run.ito().itoSteps, setup.work.snapshot());
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
        int height = latentSide(request.height(), unet);
        int width = latentSide(request.width(), unet);
        return TorchGaussianNoise.randn(request.seed(), 1, unet.inChannels(), height, width);
    }

    /** A latent side: the requested image width or height / 8, or the UNet's sample size. */
    private static int latentSide(int imageSize, UNetDescription unet) {
        return imageSize > 0 ? imageSize / VAE_DOWNSAMPLING : unet.sampleSize();
    }

    /**
     * The downsampling factor of the ITO and display maps: the requested resolution's level if the UNet has
     * cross-attention there, else the level nearest to 16 (see {@link #PREFERRED_ATTENTION_RESOLUTION}).
     *
     * @param requested the requested side, for a rectangle the maps' larger side; 0 to choose
     */
    static int attentionFactor(int requested, UNetDescription unet, int latentHeight, int latentWidth) {
        Set<Integer> factors = new TreeSet<>();
        for (AttentionLayerInfo layer : unet.attentionLayers()) {
            if (layer.id().kind() == AttentionKind.CROSS && layer.id().place() != UNetPlace.MID) {
                factors.add(layer.downsampleFactor());
            }
        }
        if (factors.isEmpty()) {
            throw new IllegalArgumentException("The UNet has no cross-attention layers in its down or up blocks");
        }
        boolean square = latentHeight == latentWidth;
        if (requested > 0) {
            List<String> available = new ArrayList<>();
            for (int factor : factors) {
                int height = latentHeight / factor;
                int width = latentWidth / factor;
                if (Math.max(height, width) == requested) {
                    return factor;
                }
                available.add(square ? String.valueOf(height) : height + "x" + width);
            }
            Collections.reverse(available);
            throw new IllegalArgumentException(square
                    ? "No cross-attention layers at " + requested + "x" + requested + " for a " + latentHeight + "x"
                    + latentWidth + " latent; available: " + available
                    : "No cross-attention layers whose maps' larger side is " + requested + " for a " + latentHeight
                    + "x" + latentWidth + " (height x width) latent; available (height x width): " + available);
        }
        int best = -1;
        double bestDistance = Double.POSITIVE_INFINITY;
        // finest first: on a tie (e.g. 12 and 24 for SD 2.1 at 768 px) the finer map, as before
        for (int factor : factors) {
            // sqrt(h * h) == h exactly, so a square latent compares its sides as it always has
            double side = Math.sqrt((double) (latentHeight / factor) * (latentWidth / factor));
            double distance = Math.abs(side - PREFERRED_ATTENTION_RESOLUTION);
            if (best < 0 || distance < bestDistance) {
                best = factor;
                bestDistance = distance;
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

}
