package dev.suppress.core;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.internal.ito.InferenceTimeOptimization;
import dev.suppress.core.ito.FastItoOptions;
import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The ITO of one run's optimised steps (ALGORITHM.md §4), as the reference runs it or as fast mode does, with one
 * progress contract for both: every evaluated iterate is reported once, after its update, with the loss of the
 * iterate and the embedding the update produced (the same embedding when there was no update).
 */
final class ItoRunner {

    private final SuppressionRequest.ItoOptions options;
    private final int steps;
    private final InferenceTimeOptimization optimization;
    private final DenoiserWithAttention denoiser;
    private final AttentionCapture capture;
    private final AttentionLoss loss;
    private final ProgressListener listener;
    private final RunClock clock;
    /** The audit's own optimisation and denoiser, outside the run's work count (null without an audit). */
    private final InferenceTimeOptimization auditOptimization;
    private final DenoiserWithAttention auditDenoiser;
    final List<SuppressionResult.ItoStep> itoSteps = new ArrayList<>();
    final List<SuppressionResult.ItoAudit> audits = new ArrayList<>();
    /** Fast mode's warm start: the previous optimised step's result. */
    private Tensor previous;
    /** The run's optimised steps (ascending). */
    private final List<Integer> windowSteps;
    /** Fast mode's warm updates so far in this window, and the warm steps that took them. */
    private int warmSpent;
    private int warmDone;

    ItoRunner(SuppressionRequest request, InferenceTimeOptimization optimization, DenoiserWithAttention denoiser,
              AttentionCapture capture, AttentionLoss loss, ProgressListener listener, RunClock clock,
              InferenceTimeOptimization auditOptimization, DenoiserWithAttention auditDenoiser) {
        this.options = request.ito();
        this.steps = request.schedule().steps();
        this.windowSteps = request.itoSteps();
        this.optimization = optimization;
        this.denoiser = denoiser;
        this.capture = capture;
        this.loss = loss;
        this.listener = listener;
        this.clock = clock;
        this.auditOptimization = auditOptimization;
        this.auditDenoiser = auditDenoiser;
    }

    /** The reference's ITO: from this step's SWR embedding, its fixed number of updates at {@code s·√r_i}. */
    Tensor reference(int stepIndex, int timestep, Tensor latent, Tensor regularised, AttentionMaps referenceMaps) {
        long started = System.nanoTime();
        int iterations = options.iterations();
        InferenceTimeOptimization.Outcome outcome = optimization.optimise(latent, timestep, regularised, capture,
                loss.objective(referenceMaps), iterations, stepSize(stepIndex),
                reporting(stepIndex, iterations));
        return finish(stepIndex, outcome, outcome.losses(), started);
    }

    /**
     * Fast mode's ITO: warm-started from the previous optimised step's result, each warm step is given its share of
     * the window's warm updates ({@link FastItoOptions#iterations} per warm step): its own, plus what earlier steps
     * left unused, less what they borrowed (keeping {@link FastItoOptions#minIterations}), at most
     * {@link FastItoOptions#maxIterations}. A step stops when an update lowers the loss by less than
     * {@link FastItoOptions#relativeTolerance}, goes on past its share while updates gain
     * {@link FastItoOptions#continueGain} (borrowing only what the later steps can repay), and the iterate with the
     * lowest loss is kept.
     */
    Tensor fast(int stepIndex, int timestep, Tensor latent, Tensor regularised, AttentionMaps referenceMaps) {
        long started = System.nanoTime();
        FastItoOptions fast = options.fast();
        boolean cold = previous == null || !fast.warmStart();
        if (cold) {
            warmSpent = 0;
            warmDone = 0;
        }
        AttentionObjective objective = loss.objective(referenceMaps);
        int share;
        int cap;
        if (cold) {
            share = Math.min(options.iterations(), fast.firstStepIterations());
            cap = share;
        } else {
            int position = windowSteps.indexOf(stepIndex);
            int[] budget = warmBudget(fast, options.iterations(), warmDone, warmSpent,
                    position < 0 ? 0 : windowSteps.size() - 1 - position);
            share = budget[0];
            cap = budget[1];
        }
        InferenceTimeOptimization.Outcome outcome = optimization.optimiseAdaptive(latent, timestep,
                cold ? regularised : previous, capture, objective, stepSize(stepIndex),
                cold ? fast.firstStepRule() : fast.rule(), fast.relativeTolerance(), share, cap,
                cold ? Double.POSITIVE_INFINITY : fast.continueGain(),
                candidate -> lossAt(denoiser, objective, latent, timestep, candidate),
                reporting(stepIndex, cap + 1));
        double[] losses = outcome.losses();
        if (!cold) {
            // every evaluated iterate but the last was updated
            warmSpent += losses.length - 1;
            warmDone++;
        }
        double best = Double.POSITIVE_INFINITY;
        for (double value : losses) {
            best = Math.min(best, value);
        }
        previous = outcome.embedding();
        // the step's last loss is the loss of the embedding it uses: the best iterate's
        double[] reported = java.util.Arrays.copyOf(losses, losses.length + 1);
        reported[losses.length] = best;
        Tensor result = finish(stepIndex, outcome, reported, started);
        if (auditOptimization != null) {
            audit(stepIndex, timestep, latent, regularised, objective, best);
        }
        return result;
    }

    /**
     * A warm step's {share, cap}: the window's warm updates are {@code iterations} per warm step; the step's share is
     * its own plus what earlier steps left unused, less what they borrowed (but at least {@code minIterations}), and
     * it may borrow up to what the {@code later} warm steps can repay while keeping {@code minIterations} each; both at
     * most {@code maxIterations} and the reference's {@code referenceIterations}.
     */
    static int[] warmBudget(FastItoOptions fast, int referenceIterations, int warmDone, int warmSpent, int later) {
        int available = (warmDone + 1 + later) * fast.iterations() - warmSpent;
        int ceiling = Math.min(referenceIterations, fast.maxIterations());
        int cap = Math.max(0, Math.min(ceiling, available - later * fast.minIterations()));
        int share = Math.min(cap, Math.max(fast.minIterations(), available - later * fast.iterations()));
        return new int[] {share, cap};
    }

    /**
     * The matched-state audit: the reference's ITO (cold, from SWR, its iterations, the fixed step rule) from the
     * latent and maps fast mode's ITO had, evaluated at its final embedding; nothing of it reaches the run.
     */
    private void audit(int stepIndex, int timestep, Tensor latent, Tensor regularised, AttentionObjective objective,
                       double fastLoss) {
        long started = System.nanoTime();
        InferenceTimeOptimization.Outcome reference = auditOptimization.optimise(latent, timestep, regularised,
                capture, objective, options.iterations(), stepSize(stepIndex), (iteration, value, evaluated, updated) -> true);
        double referenceLoss = lossAt(auditDenoiser, objective, latent, timestep, reference.embedding());
        audits.add(new SuppressionResult.ItoAudit(stepIndex, fastLoss, referenceLoss));
        clock.itoNanos += System.nanoTime() - started;
    }

    private double lossAt(DenoiserWithAttention denoiser, AttentionObjective objective, Tensor latent, int timestep,
                          Tensor embedding) {
        return objective.evaluate(denoiser.attention(latent, timestep, embedding.asBatchOfOne(), capture)).loss();
    }

    private InferenceTimeOptimization.IterationListener reporting(int stepIndex, int planned) {
        return (iteration, value, evaluated, updated) -> listener.onItoIteration(new ProgressListener.ItoIteration(
                stepIndex, iteration, planned, value, evaluated, updated)) == ProgressListener.Progress.CONTINUE;
    }

    private Tensor finish(int stepIndex, InferenceTimeOptimization.Outcome outcome, double[] losses, long started) {
        itoSteps.add(new SuppressionResult.ItoStep(stepIndex, losses));
        clock.itoNanos += System.nanoTime() - started;
        if (outcome.cancelled()) {
            throw new GenerationCancelledException("Cancelled during ITO at denoising step " + stepIndex);
        }
        return outcome.embedding();
    }

    /** {@code s·√r_i}, with {@code r = numpy.linspace(1, 0.1, S)} (§4.2) rounded as numpy computes it. */
    private double stepSize(int stepIndex) {
        double range;
        if (steps == 1) {
            range = 1.0;
        } else if (stepIndex == steps - 1) {
            range = 0.1;
        } else {
            range = stepIndex * ((0.1 - 1.0) / (steps - 1)) + 1.0;
        }
        return options.stepScale() * Math.sqrt(range);
    }
}
