package dev.suppress.core;

import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.ito.FastItoOptions;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What to generate and what to suppress: an immutable value, built with {@link #builder(String)}.
 *
 * <p>The defaults are the reference's (ALGORITHM.md): 50 DDIM steps, guidance 7.5, soft-weight SWR with
 * {@code α = 1}, {@code τ = 0.8} (erasing from step 10), ITO in the window {@code [0.2, 0.4)} of the schedule (steps
 * 10 .. 19 of 50) with step scale 20 (10 iterations per step in reference mode), loss weights
 * {@code (1, −0.5, 1, −0.5)}, ITO maps averaged over the first half of the heads; the schedule is {@link Mode#FAST}.
 *
 * @param prompt         the prompt, e.g. {@code "a man without glasses"}
 * @param suppressWords  words or phrases of the prompt whose content to suppress (or strengthen); resolved to token
 *                       indices by the tokenizer
 * @param tokenIndices   explicit prompt-token indices ({@code 1 .. n-2}) to suppress, in addition to the words
 * @param negativePrompt replaces the empty prompt of the unconditional branch, or {@code null}
 * @param seed           seeds the initial latent ({@code torch.randn} with {@code manual_seed(seed)} on the CPU,
 *                       reproduced exactly) unless {@code initialLatent} is given
 * @param initialLatent  the initial latent {@code [1, 4, h, w]}, or {@code null} to draw it from {@code seed}
 * @param width          image width in pixels (a multiple of 8), or 0 for the model's default ({@code sample_size}
 *                       × 8: 512 for SD 1.x); ignored when an initial latent is given
 * @param height         image height in pixels likewise; the latent is {@code [1, 4, height/8, width/8]}
 * @param schedule       the denoising schedule
 * @param swr            the soft-weighted regularization
 * @param ito            the inference-time optimization
 * @param clipSkip       CLIP layers to skip, as diffusers' {@code clip_skip} (A1111's "Clip skip" minus 1): 0 uses
 *                       the model's usual text-encoder output; k > 0 the output k layers before it (SD 1.x/2.x: then
 *                       the final layer norm; SDXL: {@code hidden_states[-(k + 2)]})
 */
public record SuppressionRequest(String prompt, List<String> suppressWords, List<Integer> tokenIndices,
                                 String negativePrompt, long seed, Tensor initialLatent, int width, int height,
                                 ScheduleOptions schedule, SwrOptions swr, ItoOptions ito, int clipSkip) {

    /** The reference's ITO step scale for generated images. */
    public static final double GENERATED_IMAGE_ITO_SCALE = 20.0;

    /** The most CLIP layers a request may skip (the text encoder checks its own depth). */
    public static final int MAX_CLIP_SKIP = 64;

    /** The reference's DDIM step count. */
    public static final int DEFAULT_STEPS = 50;

    /** The reference's classifier-free guidance scale. */
    public static final double DEFAULT_GUIDANCE_SCALE = 7.5;

    /**
     * The denoising schedule.
     *
     * @param steps          DDIM steps S
     * @param guidanceScale  classifier-free guidance g
     * @param mode           how the UNet passes are spent ({@link Mode#FAST} by default)
     * @param suppressedOnly only the suppressed image is wanted: in fast mode the original branch stops after the last
     *                       ITO step (reference mode runs it anyway), and the result has no original image
     */
    public record ScheduleOptions(int steps, double guidanceScale, Mode mode, boolean suppressedOnly) {

        public ScheduleOptions {
            Objects.requireNonNull(mode, "mode");
            if (steps < 1 || steps > 1000) {
                throw new IllegalArgumentException("steps must be in 1..1000, got " + steps);
            }
            if (!Double.isFinite(guidanceScale)) {
                throw new IllegalArgumentException("guidanceScale must be finite, got " + guidanceScale);
            }
        }
    }

    /**
     * Soft-weighted regularization (ALGORITHM.md §2-§3).
     *
     * @param variant the variant
     * @param alpha   its parameter α
     * @param tau     τ: the suppressed branch departs at step {@code ⌈(1−τ)·S⌉}
     */
    public record SwrOptions(SoftWeightedRegularization.Variant variant, double alpha, double tau) {

        public SwrOptions {
            Objects.requireNonNull(variant, "swrVariant");
            if (!(tau >= 0 && tau <= 1)) {
                throw new IllegalArgumentException("tau must be in [0, 1], got " + tau);
            }
            // Validates alpha for the variant now rather than mid-run.
            new SoftWeightedRegularization(variant, alpha);
        }

        /** Whether the words are strengthened instead of suppressed. */
        public boolean strengthens() {
            return variant == SoftWeightedRegularization.Variant.STRENGTHEN;
        }

        /** The suppressed branch's first step, {@code ⌈(1−τ)·S⌉} (guarding 0.2·50 against rounding up to 11). */
        public int erasureStartStep(int steps) {
            return (int) Math.ceil((1.0 - tau) * steps - 1e-9);
        }
    }

    /**
     * Inference-time optimization (ALGORITHM.md §4).
     *
     * @param iterations          iterations per step in reference mode, the most per step in fast mode; 0 disables it
     * @param stepScale           the step scale s (20 for generated images)
     * @param window              the steps it runs at (from τ on)
     * @param lossWeights         the four λ of the attention loss
     * @param headAveraging       heads averaged in its maps ({@link HeadAveraging#FIRST_HALF_OF_HEADS} reproduces the
     *                            reference)
     * @param attentionResolution side of its attention maps, or 0 to pick the UNet level nearest to 16
     * @param fast                how fast mode runs it
     * @param audit               at every ITO step of fast mode, also run the reference's ITO (cold, from SWR, its
     *                            iterations and step rule) from the same inputs and report both losses without using
     *                            the result: for measurement, it costs more than the run's own ITO
     */
    public record ItoOptions(int iterations, double stepScale, ItoWindow window, LossWeights lossWeights,
                             HeadAveraging headAveraging, int attentionResolution, FastItoOptions fast,
                             boolean audit) {

        public ItoOptions {
            Objects.requireNonNull(window, "itoWindow");
            Objects.requireNonNull(lossWeights, "lossWeights");
            Objects.requireNonNull(headAveraging, "itoHeadAveraging");
            Objects.requireNonNull(fast, "fastIto");
            if (iterations < 0) {
                throw new IllegalArgumentException("itoIterations must be >= 0, got " + iterations);
            }
            if (!(stepScale >= 0) || !Double.isFinite(stepScale)) {
                throw new IllegalArgumentException("itoStepScale must be finite and >= 0, got " + stepScale);
            }
            if (attentionResolution < 0) {
                throw new IllegalArgumentException("attentionResolution must be >= 0 (0 = automatic), got "
                        + attentionResolution);
            }
        }

        /** Whether it can change anything: iterations asked for and some λ nonzero. */
        public boolean enabled() {
            return iterations > 0 && (lossWeights.retain() != 0 || lossWeights.erase() != 0
                    || lossWeights.selfRetain() != 0 || lossWeights.selfErase() != 0);
        }
    }

    public SuppressionRequest {
        Objects.requireNonNull(prompt, "prompt");
        suppressWords = List.copyOf(suppressWords);
        tokenIndices = List.copyOf(tokenIndices);
        Objects.requireNonNull(schedule, "schedule");
        Objects.requireNonNull(swr, "swr");
        Objects.requireNonNull(ito, "ito");
        if (suppressWords.isEmpty() && tokenIndices.isEmpty()) {
            throw new IllegalArgumentException("Name at least one word (or token index) of the prompt to "
                    + (swr.strengthens() ? "strengthen" : "suppress"));
        }
        for (String word : suppressWords) {
            if (word.isBlank()) {
                throw new IllegalArgumentException("A word to suppress is blank");
            }
        }
        if (clipSkip < 0 || clipSkip > MAX_CLIP_SKIP) {
            throw new IllegalArgumentException("clipSkip must be in 0.." + MAX_CLIP_SKIP + ", got " + clipSkip);
        }
        ImageSizes.check(width, height);
        if (initialLatent != null && (initialLatent.rank() != 4 || initialLatent.dim(0) != 1)) {
            throw new IllegalArgumentException("initialLatent must be [1, channels, h, w], got " + initialLatent);
        }
        if (ito.enabled() && ito.window().stepsFrom(swr.erasureStartStep(schedule.steps()), schedule.steps())
                .isEmpty()) {
            throw new IllegalArgumentException("The ITO window " + ito.window() + " holds no step of a "
                    + schedule.steps() + "-step schedule from tau's step " + swr.erasureStartStep(schedule.steps())
                    + " on: widen it with itoWindow (--ito-window start:end, as fractions) or name the steps with "
                    + "itoSteps (--ito-steps first-last), or turn ITO off (itoIterations 0)");
        }
    }

    /**
     * The side of a square image ({@code width == height}), 0 for the model's default.
     *
     * @throws IllegalStateException for a rectangle: read {@link #width()} and {@link #height()}
     */
    public int imageSize() {
        return ImageSizes.side(width, height);
    }

    /** The first step of the suppressed branch, {@code ⌈(1−τ)·S⌉}. */
    public int erasureStartStep() {
        return swr.erasureStartStep(schedule.steps());
    }

    /** The steps ITO runs at (ascending; empty when it is off): the window from τ's step on. */
    public List<Integer> itoSteps() {
        return ito.enabled() ? ito.window().stepsFrom(erasureStartStep(), schedule.steps()) : List.of();
    }

    /** Whether this request strengthens the words instead of suppressing them. */
    public boolean strengthens() {
        return swr.strengthens();
    }

    /** A builder with the reference's defaults. */
    public static Builder builder(String prompt) {
        return new Builder(prompt);
    }

    /** A builder starting from this request. */
    public Builder toBuilder() {
        Builder builder = new Builder(prompt);
        builder.suppressWords.addAll(suppressWords);
        builder.tokenIndices.addAll(tokenIndices);
        builder.seed = seed;
        builder.initialLatent = initialLatent;
        builder.steps = schedule.steps();
        builder.guidanceScale = schedule.guidanceScale();
        builder.mode = schedule.mode();
        builder.suppressedOnly = schedule.suppressedOnly();
        builder.swrVariant = swr.variant();
        builder.alpha = swr.alpha();
        builder.tau = swr.tau();
        builder.itoIterations = ito.iterations();
        builder.itoStepScale = ito.stepScale();
        builder.itoWindow = ito.window();
        builder.lossWeights = ito.lossWeights();
        builder.itoHeadAveraging = ito.headAveraging();
        builder.attentionResolution = ito.attentionResolution();
        builder.fastIto = ito.fast();
        builder.itoAudit = ito.audit();
        builder.negativePrompt = negativePrompt;
        builder.width = width;
        builder.height = height;
        builder.clipSkip = clipSkip;
        return builder;
    }

    /** Builds a {@link SuppressionRequest}; not thread-safe. */
    public static final class Builder {
        private final String prompt;
        private final List<String> suppressWords = new ArrayList<>();
        private final List<Integer> tokenIndices = new ArrayList<>();
        private long seed;
        private Tensor initialLatent;
        private int steps = DEFAULT_STEPS;
        private double guidanceScale = DEFAULT_GUIDANCE_SCALE;
        private SoftWeightedRegularization.Variant swrVariant = SoftWeightedRegularization.Variant.SOFT_WEIGHT;
        private double alpha = 1.0;
        private double tau = 0.8;
        private int itoIterations = 10;
        private double itoStepScale = GENERATED_IMAGE_ITO_SCALE;
        private ItoWindow itoWindow = ItoWindow.REFERENCE;
        private boolean itoAudit;
        private LossWeights lossWeights = LossWeights.REFERENCE;
        private String negativePrompt;
        private Mode mode = Mode.FAST;
        private HeadAveraging itoHeadAveraging = HeadAveraging.FIRST_HALF_OF_HEADS;
        private int attentionResolution;
        private int width;
        private int height;
        private boolean suppressedOnly;
        private FastItoOptions fastIto = FastItoOptions.DEFAULT;
        private int clipSkip;

        private Builder(String prompt) {
            this.prompt = Objects.requireNonNull(prompt, "prompt");
        }

        /** Adds words or phrases to suppress. */
        public Builder suppress(String... words) {
            suppressWords.addAll(List.of(words));
            return this;
        }

        /** Adds explicit prompt-token indices to suppress. */
        public Builder suppressTokenIndices(int... indices) {
            for (int index : indices) {
                tokenIndices.add(index);
            }
            return this;
        }

        /** Seeds the initial latent (default 0). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Uses this initial latent {@code [1, 4, h, w]} instead of drawing one from the seed. */
        public Builder initialLatent(Tensor latent) {
            this.initialLatent = latent;
            return this;
        }

        /** DDIM steps (default 50). */
        public Builder steps(int steps) {
            this.steps = steps;
            return this;
        }

        /** Classifier-free guidance scale (default 7.5). */
        public Builder guidanceScale(double guidanceScale) {
            this.guidanceScale = guidanceScale;
            return this;
        }

        /** The SWR variant and its parameter (default soft-weight, α = 1). */
        public Builder regularization(SoftWeightedRegularization.Variant variant, double alpha) {
            this.swrVariant = Objects.requireNonNull(variant, "variant");
            this.alpha = alpha;
            return this;
        }

        /** Soft-weight α (default 1). */
        public Builder alpha(double alpha) {
            this.alpha = alpha;
            return this;
        }

        /**
         * Strengthen the words instead of suppressing them (the reference's "generate/add subject" application:
         * SWR with {@code σ·exp(0.001σ)·1.2}); like the reference's examples of it, this also turns ITO off (set
         * {@link #itoIterations} afterwards to override).
         */
        public Builder strengthen() {
            this.swrVariant = SoftWeightedRegularization.Variant.STRENGTHEN;
            this.alpha = SoftWeightedRegularization.STRENGTHEN_ALPHA;
            this.itoIterations = 0;
            return this;
        }

        /** τ (default 0.8). */
        public Builder tau(double tau) {
            this.tau = tau;
            return this;
        }

        /** ITO iterations per step (default 10; 0 = SWR only). */
        public Builder itoIterations(int iterations) {
            this.itoIterations = iterations;
            return this;
        }

        /** ITO step scale s (default 20). */
        public Builder itoStepScale(double scale) {
            this.itoStepScale = scale;
            return this;
        }

        /**
         * ITO runs at steps {@code i < step} (from τ on): the reference's {@code max_iter_to_alter}, as explicit
         * steps; see {@link #itoWindow} for the window as a fraction of the schedule.
         */
        public Builder maxItoStep(int step) {
            if (step < 1) {
                throw new IllegalArgumentException("maxItoStep must be >= 1, got " + step);
            }
            this.itoWindow = ItoWindow.steps(0, step - 1);
            return this;
        }

        /** The steps ITO runs at, from τ on (default {@link ItoWindow#REFERENCE}, {@code [0.2, 0.4)}). */
        public Builder itoWindow(ItoWindow window) {
            this.itoWindow = window;
            return this;
        }

        /** ITO at steps {@code first .. last} (from τ on). */
        public Builder itoSteps(int first, int last) {
            this.itoWindow = ItoWindow.steps(first, last);
            return this;
        }

        /** Audit fast mode's ITO against the reference's from the same inputs (costly; default false). */
        public Builder itoAudit(boolean audit) {
            this.itoAudit = audit;
            return this;
        }

        /** The attention loss weights (default {@link LossWeights#REFERENCE}). */
        public Builder lossWeights(LossWeights weights) {
            this.lossWeights = weights;
            return this;
        }

        /** A negative prompt for the unconditional branch (default none: the empty prompt). */
        public Builder negativePrompt(String negativePrompt) {
            this.negativePrompt = negativePrompt;
            return this;
        }

        /** The schedule (default {@link Mode#FAST}). */
        public Builder mode(Mode mode) {
            this.mode = mode;
            return this;
        }

        /** Heads averaged in the ITO maps (default the reference's first half). */
        public Builder itoHeadAveraging(HeadAveraging averaging) {
            this.itoHeadAveraging = averaging;
            return this;
        }

        /**
         * Side of the ITO attention maps, for a rectangle their larger side (default 0: the level whose maps hold
         * the pixel count nearest to 16×16).
         */
        public Builder attentionResolution(int resolution) {
            this.attentionResolution = resolution;
            return this;
        }

        /**
         * Side of a square image in pixels, a multiple of 8 (default 0: the model's own size): sets both
         * {@link #width(int)} and {@link #height(int)}.
         */
        public Builder imageSize(int pixels) {
            this.width = pixels;
            this.height = pixels;
            return this;
        }

        /** Image width in pixels, a multiple of 8 (default 0: the model's own size). */
        public Builder width(int pixels) {
            this.width = pixels;
            return this;
        }

        /** Image height in pixels, a multiple of 8 (default 0: the model's own size). */
        public Builder height(int pixels) {
            this.height = pixels;
            return this;
        }

        /** {@link #width(int)} and {@link #height(int)} at once. */
        public Builder size(int width, int height) {
            this.width = width;
            this.height = height;
            return this;
        }

        /** Only the suppressed image is wanted (default false): fast mode then stops the original branch early. */
        public Builder suppressedOnly(boolean suppressedOnly) {
            this.suppressedOnly = suppressedOnly;
            return this;
        }

        /** CLIP layers to skip (default 0), as diffusers' {@code clip_skip}. */
        public Builder clipSkip(int layers) {
            this.clipSkip = layers;
            return this;
        }

        /** How fast mode runs ITO (default {@link FastItoOptions#DEFAULT}). */
        public Builder fastIto(FastItoOptions options) {
            this.fastIto = options;
            return this;
        }

        /**
         * @throws IllegalArgumentException naming the invalid option
         */
        public SuppressionRequest build() {
            return new SuppressionRequest(prompt, suppressWords, tokenIndices, negativePrompt, seed, initialLatent,
                    width, height, new ScheduleOptions(steps, guidanceScale, mode, suppressedOnly),
                    new SwrOptions(swrVariant, alpha, tau),
                    new ItoOptions(itoIterations, itoStepScale, itoWindow, lossWeights, itoHeadAveraging,
                            attentionResolution, fastIto, itoAudit), clipSkip);
        }
    }
}
