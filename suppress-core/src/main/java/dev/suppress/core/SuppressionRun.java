package dev.suppress.core;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.internal.attention.TokenMaskOptions;
import dev.suppress.core.internal.ito.InferenceTimeOptimization;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.IntFunction;

/**
 * One generation's or edit's denoising (ALGORITHM.md §3-§5): the embeddings, the scheduler, the ITO steps, and the
 * loop over steps that a {@link Schedule} fills in and that reports every step.
 *
 * <p>Two branches share the initial latent: the original branch is conditioned on the prompt's embedding
 * {@code c}, the suppressed branch on {@code ĉ_i}: {@code c} before step {@code ⌈(1−τ)S⌉}, from then on
 * {@code SWR(c)} (the same at every step, computed once), refined by ITO at the steps of the request's window.
 */
final class SuppressionRun {

    private final SuppressionRequest request;
    private final ProgressListener listener;
    private final int promptLength;
    private final int[] negatives;
    private final Tensor embedding;
    private final IntFunction<Tensor> unconditional;
    private final DdimScheduler scheduler;
    private final SoftWeightedRegularization regularization;
    private final AttentionCapture itoCapture;
    private final BranchStepper stepper;
    private final ItoRunner ito;
    private final Schedule schedule;
    private final Set<Integer> itoSteps;
    private final int erasureStartStep;
    /** The height and width of the ITO and display maps. */
    final int mapHeight;
    final int mapWidth;
    final MapAverage originalMaps;
    final MapAverage suppressedMaps;
    private final NumericalHealth health;
    private Tensor regularisedEmbedding;

    /**
     * @param mapHeight         the height of the ITO and display attention maps (the latent's over the level's
     *                          downsampling)
     * @param mapWidth          their width
     * @param optimization      ITO's gradient steps on the run's counted probe
     * @param auditOptimization the audit's, outside the work count, or null without an audit
     * @param auditDenoiser     the audit's denoiser, outside the work count, or null
     * @param health            checks the latents after every step for non-finite values
     * @param pooled            the pooled embeddings the UNet takes beside the contexts (SDXL), or
     *                          {@link PooledEmbeddings#NONE}
     */
    SuppressionRun(SuppressionRequest request, ProgressListener listener, int promptLength, int[] negatives,
                   Tensor embedding, IntFunction<Tensor> unconditional, DenoiserWithAttention denoiser,
                   DdimScheduler scheduler, int mapHeight, int mapWidth, RunClock clock, InferenceTimeOptimization optimization,
                   InferenceTimeOptimization auditOptimization, DenoiserWithAttention auditDenoiser,
                   NumericalHealth health, PooledEmbeddings pooled) {
        this.request = request;
        this.listener = listener;
        this.promptLength = promptLength;
        this.negatives = negatives;
        this.embedding = embedding;
        this.unconditional = unconditional;
        this.scheduler = scheduler;
        this.health = health;
        this.mapHeight = mapHeight;
        this.mapWidth = mapWidth;
        boolean fast = request.schedule().mode() == Mode.FAST;
        this.regularization = new SoftWeightedRegularization(request.swr().variant(), request.swr().alpha());
        this.itoCapture = AttentionCapture.reference(mapHeight, mapWidth, request.ito().headAveraging());
        // Reference mode displays every head, as the reference's batch-2 passes average them; fast mode reads its
        // ITO maps from the same passes, so it displays the heads the ITO uses.
        AttentionCapture displayCapture = fast ? itoCapture : new AttentionCapture(mapHeight, mapWidth,
                EnumSet.of(UNetPlace.UP, UNetPlace.DOWN), EnumSet.of(UNetPlace.UP, UNetPlace.DOWN, UNetPlace.MID),
                HeadAveraging.ALL_HEADS, Set.of());
        this.originalMaps = new MapAverage(mapHeight, mapWidth);
        this.suppressedMaps = new MapAverage(mapHeight, mapWidth);
        this.stepper = new BranchStepper(denoiser, scheduler, request.schedule().guidanceScale(), displayCapture,
                originalMaps, suppressedMaps, clock, pooled);
        AttentionLoss loss = new AttentionLoss(promptLength, negatives, request.ito().lossWeights(),
                TokenMaskOptions.REFERENCE);
        // ITO's passes, and the audit's, are all conditional on the prompt
        this.ito = new ItoRunner(request, optimization, pooled.conditional(denoiser), itoCapture, loss, listener,
                clock, fast ? auditOptimization : null,
                auditDenoiser == null ? null : pooled.conditional(auditDenoiser));
        List<Integer> window = request.itoSteps();
        this.itoSteps = new TreeSet<>(window);
        this.erasureStartStep = request.erasureStartStep();
        this.schedule = fast ? new FastSchedule(this, window.isEmpty() ? -1 : window.get(window.size() - 1))
                : new ReferenceSchedule(this);
    }

    /** Steps {@code fromStep .. toStep-1} from {@code from}. */
    Branches denoise(Branches from, int fromStep, int toStep) {
        Branches current = from;
        for (int stepIndex = fromStep; stepIndex < toStep; stepIndex++) {
            Schedule.Outcome outcome = schedule.step(stepIndex, current);
            current = outcome.next();
            health.afterStep(stepIndex, current.original(), current.suppressed());
            ProgressListener.Phase phase = outcome.optimised() ? ProgressListener.Phase.OPTIMISED
                    : stepIndex >= erasureStartStep ? ProgressListener.Phase.REGULARISED
                    : ProgressListener.Phase.SHARED;
            ProgressListener.Progress progress = listener.onDenoisingStep(new ProgressListener.DenoisingStep(
                    stepIndex, request.schedule().steps(), timestep(stepIndex), phase, current.original(),
                    current.suppressed(), outcome.erased()));
            if (progress == ProgressListener.Progress.CANCEL) {
                throw new GenerationCancelledException("Cancelled after denoising step " + stepIndex);
            }
        }
        return current;
    }

    int timestep(int stepIndex) {
        return scheduler.timestep(stepIndex);
    }

    /** §3: {@code c} before τ's step, {@code SWR(c)} from then on (ITO updates do not carry over). */
    Tensor erasedEmbedding(int stepIndex) {
        if (stepIndex < erasureStartStep) {
            return embedding;
        }
        if (regularisedEmbedding == null) {
            regularisedEmbedding = regularization.apply(embedding, negatives, promptLength);
        }
        return regularisedEmbedding;
    }

    /** The reference's condition: a step of the ITO window, and SWR changed something. */
    boolean optimises(int stepIndex, Tensor erased) {
        return itoSteps.contains(stepIndex) && !erased.equals(embedding);
    }

    int erasureStartStep() {
        return erasureStartStep;
    }

    boolean suppressedOnly() {
        return request.schedule().suppressedOnly();
    }

    Tensor embedding() {
        return embedding;
    }

    Tensor unconditional(int stepIndex) {
        return unconditional.apply(stepIndex);
    }

    AttentionCapture itoCapture() {
        return itoCapture;
    }

    BranchStepper stepper() {
        return stepper;
    }

    ItoRunner ito() {
        return ito;
    }

    int[] negatives() {
        return negatives;
    }
}
