package dev.suppress.examples.cli;

import dev.suppress.core.ItoWindow;
import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.swr.SoftWeightedRegularization;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.function.IntConsumer;

/**
 * The options of a {@link SuppressionRequest}, one flag per component. An option that is not given leaves the
 * request builder's default (the reference's, see {@link SuppressionRequest}), so each field is boxed: {@code null}
 * means "not given".
 */
final class RequestOptions {

    /** The request builder's default α (ALGORITHM.md §2), for {@code --swr} without {@code --alpha}. */
    private static final double DEFAULT_ALPHA = 1.0;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT",
            description = "The prompt, e.g. \"a man without glasses\".")
    String prompt;

    @Option(names = "--suppress", arity = "1..*", paramLabel = "WORD",
            description = "Words or phrases of the prompt whose content to suppress (quote a phrase).")
    List<String> suppressWords;

    @Option(names = "--token-indices", arity = "1..*", split = ",", paramLabel = "N",
            description = "Prompt-token indices (1..n-2) to suppress, in addition to the words.")
    List<Integer> tokenIndices;

    @Option(names = "--seed", paramLabel = "N",
            description = "Seeds the initial latent as torch.randn with manual_seed(N) does (default 0).")
    Long seed;

    @Option(names = "--steps", paramLabel = "N", description = "DDIM steps (default 50).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "Classifier-free guidance scale (default 7.5).")
    Double guidance;

    @Option(names = "--swr", paramLabel = "VARIANT", converter = Converters.SwrVariantConverter.class,
            description = "Soft-weighted regularization variant: soft-weight (default), alpha, beta, delete, weight.")
    SoftWeightedRegularization.Variant swrVariant;

    @Option(names = "--alpha", paramLabel = "A", description = "The variant's parameter alpha (default 1).")
    Double alpha;

    @Option(names = "--strengthen",
            description = "Strengthen the words instead of suppressing them (turns ITO off unless --ito-iterations "
                    + "is given).")
    boolean strengthen;

    @Option(names = "--tau", paramLabel = "T",
            description = "The suppressed branch departs at step ceil((1-tau)*steps) (default 0.8).")
    Double tau;

    @Option(names = "--ito-iterations", paramLabel = "N",
            description = "Inference-time optimization iterations per step; 0 = SWR only (default 10).")
    Integer itoIterations;

    @Option(names = "--ito-step-scale", paramLabel = "S", description = "ITO step scale (default 20).")
    Double itoStepScale;

    @Option(names = "--max-ito-step", paramLabel = "N",
            description = "ITO runs at steps before N, from tau's step on (the reference's max_iter_to_alter); "
                    + "see --ito-window.")
    Integer maxItoStep;

    @Option(names = "--ito-window", paramLabel = "START:END", converter = Converters.ItoWindowConverter.class,
            description = "ITO runs at steps i with START <= i/steps < END, from tau's step on (default 0.2:0.4: "
                    + "steps 10-19 of 50, 5-9 of 25, 20-39 of 100).")
    ItoWindow itoWindow;

    @Option(names = "--ito-steps", paramLabel = "FIRST-LAST", converter = Converters.ItoStepsConverter.class,
            description = "ITO runs at these steps (0-based, both included), from tau's step on.")
    ItoWindow itoSteps;

    @Option(names = "--ito-audit",
            description = "Fast mode: at every ITO step also run the reference's ITO (cold from SWR, 10 updates) "
                    + "from the same latent and embedding, without using it, and print both losses "
                    + "(ito-audit: step=i fast=L reference=L). For measurement: it costs more than the run's ITO.")
    boolean itoAudit;

    @Option(names = "--loss-weights", paramLabel = "R,E,SR,SE", converter = Converters.LossWeightsConverter.class,
            description = "Attention loss weights: cross retain, cross erase, self retain, self erase "
                    + "(default 1,-0.5,1,-0.5).")
    LossWeights lossWeights;

    @Option(names = "--negative-prompt", paramLabel = "TEXT",
            description = "Replaces the empty prompt of the unconditional branch.")
    String negativePrompt;

    @Option(names = "--clip-skip", paramLabel = "N",
            description = "Text-encoder layers to skip, as diffusers' clip_skip (A1111's \"Clip skip: 2\" is 1; "
                    + "default 0).")
    Integer clipSkip;

    @Option(names = "--head-averaging", paramLabel = "HEADS", converter = Converters.HeadAveragingConverter.class,
            description = "Heads averaged in the ITO maps: first-half (the reference's quirk, default) or all.")
    HeadAveraging headAveraging;

    @Option(names = "--attention-resolution", paramLabel = "N",
            description = "Side of the ITO attention maps (their larger side for a non-square image); default: the "
                    + "UNet level whose maps hold the pixel count nearest to 16x16.")
    Integer attentionResolution;

    @Option(names = "--size", paramLabel = "PIXELS",
            description = "Side of a square image (width and height), a multiple of 8; default: the model's (512 "
                    + "for SD 1.x).")
    Integer imageSize;

    @Option(names = "--width", paramLabel = "PIXELS",
            description = "Image width, a multiple of 8; default: the model's. Not with --size.")
    Integer width;

    @Option(names = "--height", paramLabel = "PIXELS",
            description = "Image height, a multiple of 8; default: the model's. Not with --size.")
    Integer height;

    @Option(names = "--mode", paramLabel = "MODE", converter = Converters.ModeConverter.class,
            description = "The schedule: fast (default: the same method for under half the UNet work) or reference "
                    + "(the published implementation's, for parity).")
    Mode mode;

    @Option(names = "--suppressed-only",
            description = "Only the suppressed image is wanted: in fast mode the original branch stops after the "
                    + "last ITO step.")
    boolean suppressedOnly;

    /**
     * A builder with every given option applied over the defaults.
     *
     * @throws IllegalArgumentException when options contradict each other
     */
    SuppressionRequest.Builder toBuilder() {
        return applyTo(SuppressionRequest.builder(prompt));
    }

    /**
     * Applies every given option to {@code builder} (made for {@link #prompt}).
     *
     * @throws IllegalArgumentException when options contradict each other
     */
    SuppressionRequest.Builder applyTo(SuppressionRequest.Builder builder) {
        if (suppressWords != null) {
            builder.suppress(suppressWords.toArray(String[]::new));
        }
        if (tokenIndices != null) {
            builder.suppressTokenIndices(tokenIndices.stream().mapToInt(Integer::intValue).toArray());
        }
        if (strengthen) {
            if (swrVariant != null) {
                throw new IllegalArgumentException("--strengthen and --swr exclude each other: strengthening is its "
                        + "own regularization");
            }
            // first, so that an explicit --ito-iterations below overrides the zero it sets
            builder.strengthen();
        }
        if (swrVariant != null) {
            builder.regularization(swrVariant, DEFAULT_ALPHA);
        }
        if (alpha != null) {
            builder.alpha(alpha);
        }
        if (seed != null) {
            builder.seed(seed);
        }
        if (steps != null) {
            builder.steps(steps);
        }
        if (guidance != null) {
            builder.guidanceScale(guidance);
        }
        if (tau != null) {
            builder.tau(tau);
        }
        if (itoIterations != null) {
            builder.itoIterations(itoIterations);
        }
        if (itoStepScale != null) {
            builder.itoStepScale(itoStepScale);
        }
        int windows = (maxItoStep != null ? 1 : 0) + (itoWindow != null ? 1 : 0) + (itoSteps != null ? 1 : 0);
        if (windows > 1) {
            throw new IllegalArgumentException("--ito-window, --ito-steps and --max-ito-step each set the ITO window; "
                    + "give one");
        }
        if (maxItoStep != null) {
            builder.maxItoStep(maxItoStep);
        }
        if (itoWindow != null) {
            builder.itoWindow(itoWindow);
        }
        if (itoSteps != null) {
            builder.itoWindow(itoSteps);
        }
        builder.itoAudit(itoAudit);
        if (lossWeights != null) {
            builder.lossWeights(lossWeights);
        }
        if (clipSkip != null) {
            builder.clipSkip(clipSkip);
        }
        if (negativePrompt != null) {
            builder.negativePrompt(negativePrompt);
        }
        if (headAveraging != null) {
            builder.itoHeadAveraging(headAveraging);
        }
        if (attentionResolution != null) {
            builder.attentionResolution(attentionResolution);
        }
        applySize(imageSize, width, height, builder::imageSize, builder::width, builder::height);
        if (mode != null) {
            builder.mode(mode);
        }
        if (suppressedOnly) {
            builder.suppressedOnly(true);
        }
        return builder;
    }

    /**
     * Applies {@code --size} or {@code --width}/{@code --height} (either may be left out: the model's side).
     *
     * @throws IllegalArgumentException when {@code --size} comes with {@code --width} or {@code --height}
     */
    static void applySize(Integer size, Integer width, Integer height, IntConsumer setSize, IntConsumer setWidth,
                          IntConsumer setHeight) {
        if (size != null && (width != null || height != null)) {
            throw new IllegalArgumentException("--size sets both the width and the height; give either --size or "
                    + "--width/--height, not both (got --size " + size
                    + (width != null ? " --width " + width : "") + (height != null ? " --height " + height : "")
                    + ")");
        }
        if (size != null) {
            setSize.accept(size);
        }
        if (width != null) {
            setWidth.accept(width);
        }
        if (height != null) {
            setHeight.accept(height);
        }
    }
}
