package dev.suppress.core.internal.ito;

import dev.suppress.core.ito.FastItoOptions;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.tensor.Tensor;

import java.util.Objects;

/**
 * The ITO loop of one denoising step (ALGORITHM.md §4 step 2): starting from the step's SWR embedding, repeat
 * {@code ĉ ← ĉ − stepSize · dL/dĉ}, with {@code stepSize = s·√r_i} and the loss against the original branch's
 * maps at this step.
 */
public final class InferenceTimeOptimization {

    private final ContextGradient gradient;

    /** @param gradient where {@code dL/dĉ} comes from */
    public InferenceTimeOptimization(ContextGradient gradient) {
        this.gradient = Objects.requireNonNull(gradient, "gradient");
    }

    /** Told of each iteration; returning false stops the loop before the next UNet pass. */
    @FunctionalInterface
    public interface IterationListener {
        /**
         * @param iteration 0-based iteration
         * @param loss      the loss at {@code evaluated}
         * @param evaluated the embedding this iteration evaluated {@code [77, M]}
         * @param embedding the embedding after its update {@code [77, M]} ({@code evaluated} without one)
         * @return whether to go on
         */
        boolean onIteration(int iteration, double loss, Tensor evaluated, Tensor embedding);
    }

    /**
     * The result of one step's optimization.
     *
     * @param embedding the refined embedding {@code [77, M]}
     * @param losses    the loss before each update, one per iteration run
     * @param cancelled whether the listener stopped the loop
     */
    public record Outcome(Tensor embedding, double[] losses, boolean cancelled) {

        public Outcome {
            losses = losses.clone();
        }

        @Override
        public double[] losses() {
            return losses.clone();
        }
    }

    /**
     * Runs {@code iterations} gradient steps.
     *
     * @param latent     the erased branch's latent {@code [1, 4, h, w]}; not modified
     * @param timestep   the diffusion timestep
     * @param start      the SWR embedding of this step {@code [77, M]}; not modified
     * @param capture    the maps the loss needs
     * @param objective  the loss against this step's reference maps
     * @param iterations how many updates
     * @param stepSize   {@code s·√r_i}
     * @param listener   told of each iteration
     */
    public Outcome optimise(Tensor latent, int timestep, Tensor start, AttentionCapture capture,
                            AttentionObjective objective, int iterations, double stepSize,
                            IterationListener listener) {
        Tensor embedding = start;
        double[] losses = new double[iterations];
        // The reference computes context - (scale * factor) * grad on float32 tensors: the scalar is rounded to
        // float32 and each element is one float32 multiply and one subtract.
        float coefficient = (float) stepSize;
        for (int iteration = 0; iteration < iterations; iteration++) {
            Tensor evaluated = embedding;
            ProbeResult result = gradient.evaluate(latent, timestep, embedding, capture, objective);
            losses[iteration] = result.loss();
            // The reference skips the update when the loss is exactly zero (`if loss != .0`).
            if (result.loss() != 0.0) {
                embedding = descend(embedding, result.contextGradient(), coefficient);
            }
            if (!listener.onIteration(iteration, result.loss(), evaluated, embedding)) {
                return new Outcome(embedding, java.util.Arrays.copyOf(losses, iteration + 1), true);
            }
        }
        return new Outcome(embedding, losses, false);
    }

    /**
     * Fast mode's optimisation: gradient steps from {@code start} until an update lowers the best loss by less than
     * {@code relativeTolerance} of its magnitude (the attention loss is often negative), two updates in a row fail to lower it, or the budget is spent; the iterate
     * with the lowest loss is returned. The budget (most updates) is chosen from the loss at {@code start}; the
     * iterate after the last update is evaluated with {@code lossOnly} (a forward pass without backward). The step
     * size follows {@code rule}.
     *
     * @param budget   the most updates, given the loss at {@code start}
     * @param lossOnly evaluates the loss alone at an embedding (an attention-only pass)
     * @param listener told of every evaluated iterate: its loss, and the embedding its update produced (the iterate
     *                 itself when it was not updated)
     * @return the best iterate, the losses of every evaluated iterate, and as {@code cancelled} whether the
     *         listener stopped the loop
     */
    public Outcome optimiseAdaptive(Tensor latent, int timestep, Tensor start, AttentionCapture capture,
                                    AttentionObjective objective, double stepSize, FastItoOptions.StepRule rule,
                                    double relativeTolerance, java.util.function.DoubleToIntFunction budget,
                                    java.util.function.ToDoubleFunction<Tensor> lossOnly,
                                    IterationListener listener) {
        float coefficient = (float) stepSize;
        Tensor embedding = start;
        Tensor best = start;
        Tensor bestGradient = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        java.util.List<Double> losses = new java.util.ArrayList<>();
        int maxUpdates = -1;
        int updates = 0;
        int failures = 0;
        for (int iteration = 0; ; iteration++) {
            ProbeResult result = maxUpdates < 0 || updates < maxUpdates
                    ? gradient.evaluate(latent, timestep, embedding, capture, objective) : null;
            double value = result != null ? result.loss() : lossOnly.applyAsDouble(embedding);
            losses.add(value);
            if (maxUpdates < 0) {
                maxUpdates = budget.applyAsInt(value);
            }
            double previousBest = bestLoss;
            boolean improved = value < bestLoss;
            if (improved) {
                best = embedding;
                bestLoss = value;
                bestGradient = result != null ? result.contextGradient() : null;
                failures = 0;
            } else {
                failures++;
            }
            boolean stop = result == null || value == 0.0 || updates >= maxUpdates || failures >= 2
                    || (improved && iteration > 0 && previousBest - value < relativeTolerance * Math.abs(previousBest));
            Tensor next = embedding;
            if (!stop) {
                if (improved || rule == FastItoOptions.StepRule.FIXED) {
                    next = descend(embedding, result.contextGradient(), coefficient);
                } else {
                    coefficient /= 2;
                    next = descend(best, bestGradient, coefficient);
                }
                updates++;
            }
            if (!listener.onIteration(iteration, value, embedding, next)) {
                return new Outcome(best, toArray(losses), true);
            }
            if (stop) {
                return new Outcome(best, toArray(losses), false);
            }
            embedding = next;
        }
    }

    private static double[] toArray(java.util.List<Double> values) {
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static Tensor descend(Tensor embedding, Tensor gradient, float coefficient) {
        float[] values = embedding.toArray();
        float[] slope = gradient.toArray();
        if (slope.length != values.length) {
            throw new IllegalStateException("Gradient " + gradient + " does not match the embedding " + embedding);
        }
        for (int i = 0; i < values.length; i++) {
            values[i] = values[i] - coefficient * slope[i];
        }
        return Tensor.wrapOwned(values, embedding.shape());
    }
}
