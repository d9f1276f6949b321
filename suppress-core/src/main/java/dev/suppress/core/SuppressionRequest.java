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
 * {@code α = 1}, {@code τ = 0.8} (erasing from step 10), ITO at steps 10 .. 19 with step scale 20 (10 iterations
 * per step in reference mode), loss weights {@code (1, −0.5, 1, −0.5)}, ITO maps averaged over the first half of the
 * heads; the schedule is {@link Mode#FAST}.
 *
 * @param prompt              the prompt, e.g. {@code "a man without glasses"}
 * @param suppressWords       words or phrases of the prompt whose content to suppress (or strengthen); resolved to
 *                            token indices by the tokenizer
 * @param tokenIndices        explicit prompt-token indices ({@code 1 .. n-2}) to suppress, in addition to the words
 * @param seed                seeds the initial latent ({@code torch.randn} with {@code manual_seed(seed)} on the CPU,
 *                            reproduced exactly) unless {@code initialLatent} is given
 * @param initialLatent       the initial latent {@code [1, 4, h, w]}, or {@code null} to draw it from {@code seed}
 * @param steps               DDIM steps S
 * @param guidanceScale       classifier-free guidance g
 * @param swrVariant          the soft-weighted regularization variant (§2)
 * @param alpha               its parameter α
 * @param tau                 τ: the erased branch departs at step {@code ⌈(1−τ)·S⌉}
 * @param itoIterations       ITO iterations per step in reference mode, the most per step in fast mode; 0 disables
 *                            ITO
 * @param itoStepScale        the ITO step scale s (20 for generated images)
 * @param maxItoStep          ITO runs at steps {@code ⌈(1−τ)·S⌉ ≤ i < maxItoStep}
 * @param lossWeights         the four λ of the attention loss
 * @param negativePrompt      replaces the empty prompt of the unconditional branch, or {@code null}
 * @param mode                the schedule ({@link Mode#FAST} by default)
 * @param itoHeadAveraging    heads averaged in the ITO maps ({@link HeadAveraging#FIRST_HALF_OF_HEADS} reproduces
 *                            the reference)
 * @param attentionResolution side of the ITO attention maps, or 0 to pick the UNet level nearest to 16
 * @param imageSize           side of the square image in pixels (a multiple of 8), or 0 for the model's default
 *                            ({@code sample_size} × 8: 512 for SD 1.x); ignored when an initial latent is given
 * @param suppressedOnly      only the suppressed image is wanted: in fast mode the original branch stops after the
 *                            last ITO step (reference mode runs it anyway), and the result has no original image
 * @param fastIto             how fast mode runs ITO
 */
public record SuppressionRequest(String prompt, List<String> suppressWords, List<Integer> tokenIndices, long seed,
                                 Tensor initialLatent, int steps, double guidanceScale,
                                 SoftWeightedRegularization.Variant swrVariant, double alpha, double tau,
                                 int itoIterations, double itoStepScale, int maxItoStep, LossWeights lossWeights,
                                 String negativePrompt, Mode mode, HeadAveraging itoHeadAveraging,
                                 int attentionResolution, int imageSize, boolean suppressedOnly,
                                 FastItoOptions fastIto) {

    /** The reference's ITO step scale for generated images. */
    public static final double GENERATED_IMAGE_ITO_SCALE = 20.0;

    public SuppressionRequest {
        Objects.requireNonNull(prompt, "prompt");
        suppressWords = List.copyOf(suppressWords);
        tokenIndices = List.copyOf(tokenIndices);
        Objects.requireNonNull(swrVariant, "swrVariant");
        Objects.requireNonNull(lossWeights, "lossWeights");
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(itoHeadAveraging, "itoHeadAveraging");
        Objects.requireNonNull(fastIto, "fastIto");
        if (suppressWords.isEmpty() && tokenIndices.isEmpty()) {
            throw new IllegalArgumentException("Name at least one word (or token index) of the prompt to "
                    + (swrVariant == SoftWeightedRegularization.Variant.STRENGTHEN ? "strengthen" : "suppress"));
        }
        for (String word : suppressWords) {
            if (word.isBlank()) {
                throw new IllegalArgumentException("A word to suppress is blank");
            }
        }
        if (steps < 1 || steps > 1000) {
            throw new IllegalArgumentException("steps must be in 1..1000, got " + steps);
        }
        if (!Double.isFinite(guidanceScale)) {
            throw new IllegalArgumentException("guidanceScale must be finite, got " + guidanceScale);
        }
        if (!(tau >= 0 && tau <= 1)) {
            throw new IllegalArgumentException("tau must be in [0, 1], got " + tau);
        }
        if (itoIterations < 0) {
            throw new IllegalArgumentException("itoIterations must be >= 0, got " + itoIterations);
        }
        if (!(itoStepScale >= 0) || !Double.isFinite(itoStepScale)) {
            throw new IllegalArgumentException("itoStepScale must be finite and >= 0, got " + itoStepScale);
        }
        if (maxItoStep < 0) {
            throw new IllegalArgumentException("maxItoStep must be >= 0, got " + maxItoStep);
        }
        if (attentionResolution < 0) {
            throw new IllegalArgumentException("attentionResolution must be >= 0 (0 = automatic), got "
                    + attentionResolution);
        }
        if (imageSize < 0 || imageSize % 8 != 0) {
            throw new IllegalArgumentException("imageSize must be a multiple of 8 (0 = the model's default), got "
                    + imageSize);
        }
        if (initialLatent != null && (initialLatent.rank() != 4 || initialLatent.dim(0) != 1)) {
            throw new IllegalArgumentException("initialLatent must be [1, channels, h, w], got " + initialLatent);
        }
        // Validates alpha for the variant now rather than mid-run.
        new SoftWeightedRegularization(swrVariant, alpha);
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
        builder.steps = steps;
        builder.guidanceScale = guidanceScale;
        builder.swrVariant = swrVariant;
        builder.alpha = alpha;
        builder.tau = tau;
        builder.itoIterations = itoIterations;
        builder.itoStepScale = itoStepScale;
        builder.maxItoStep = maxItoStep;
        builder.lossWeights = lossWeights;
        builder.negativePrompt = negativePrompt;
        builder.mode = mode;
        builder.itoHeadAveraging = itoHeadAveraging;
        builder.attentionResolution = attentionResolution;
        builder.imageSize = imageSize;
        builder.suppressedOnly = suppressedOnly;
        builder.fastIto = fastIto;
        return builder;
    }

    /** Whether this request strengthens the words instead of suppressing them. */
    public boolean strengthens() {
        return swrVariant == SoftWeightedRegularization.Variant.STRENGTHEN;
    }

    /** The first step of the erased branch, {@code ⌈(1−τ)·S⌉} (guarding 0.2·50 against rounding to 10.000000001). */
    public int erasureStartStep() {
        return (int) Math.ceil((1.0 - tau) * steps - 1e-9);
    }

    /** Builds a {@link SuppressionRequest}; not thread-safe. */
    public static final class Builder {
        private final String prompt;
        private final List<String> suppressWords = new ArrayList<>();
        private final List<Integer> tokenIndices = new ArrayList<>();
        private long seed;
        private Tensor initialLatent;
        private int steps = 50;
        private double guidanceScale = 7.5;
        private SoftWeightedRegularization.Variant swrVariant = SoftWeightedRegularization.Variant.SOFT_WEIGHT;
        private double alpha = 1.0;
        private double tau = 0.8;
        private int itoIterations = 10;
        private double itoStepScale = GENERATED_IMAGE_ITO_SCALE;
        private int maxItoStep = 20;
        private LossWeights lossWeights = LossWeights.REFERENCE;
        private String negativePrompt;
        private Mode mode = Mode.FAST;
        private HeadAveraging itoHeadAveraging = HeadAveraging.FIRST_HALF_OF_HEADS;
        private int attentionResolution;
        private int imageSize;
        private boolean suppressedOnly;
        private FastItoOptions fastIto = FastItoOptions.DEFAULT;

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

        /** ITO runs before this step (default 20). */
        public Builder maxItoStep(int step) {
            this.maxItoStep = step;
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

        /** Side of the ITO attention maps (default 0: the level nearest to 16). */
        public Builder attentionResolution(int resolution) {
            this.attentionResolution = resolution;
            return this;
        }

        /** Side of the square image in pixels, a multiple of 8 (default 0: the model's own size). */
        public Builder imageSize(int pixels) {
            this.imageSize = pixels;
            return this;
        }

        /** Only the suppressed image is wanted (default false): fast mode then stops the original branch early. */
        public Builder suppressedOnly(boolean suppressedOnly) {
            this.suppressedOnly = suppressedOnly;
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
            return new SuppressionRequest(prompt, suppressWords, tokenIndices, seed, initialLatent, steps,
                    guidanceScale, swrVariant, alpha, tau, itoIterations, itoStepScale, maxItoStep, lossWeights,
                    negativePrompt, mode, itoHeadAveraging, attentionResolution, imageSize, suppressedOnly,
                    fastIto);
        }
    }
}
