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
         * @param loss      the loss at the embedding before this iteration's update
         * @param embedding the embedding after the update {@code [77, M]}
         * @return whether to go on
         */
        boolean onIteration(int iteration, double loss, Tensor embedding);
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
            ProbeResult result = gradient.evaluate(latent, timestep, embedding, capture, objective);
            losses[iteration] = result.loss();
            // The reference skips the update when the loss is exactly zero (`if loss != .0`).
            if (result.loss() != 0.0) {
                embedding = descend(embedding, result.contextGradient(), coefficient);
            }
            if (!listener.onIteration(iteration, result.loss(), embedding)) {
                return new Outcome(embedding, java.util.Arrays.copyOf(losses, iteration + 1), true);
            }
        }
        return new Outcome(embedding, losses, false);
    }

    /**
     * Fast mode's optimisation: at most {@code updates} gradient steps from {@code start}, each iterate's loss known
     * (the last one's from {@code lossOnly}, a forward pass without backward); the iterate with the lowest loss is
     * returned. The step size follows {@code rule}.
     *
     * @param lossOnly evaluates the loss alone at an embedding (an attention-only pass)
     * @return the best iterate, the losses of every evaluated iterate, and as {@code cancelled} whether the
     *         listener stopped the loop
     */
    public Outcome optimiseKeepingBest(Tensor latent, int timestep, Tensor start, AttentionCapture capture,
                                       AttentionObjective objective, int updates, double stepSize,
                                       FastItoOptions.StepRule rule,
                                       java.util.function.ToDoubleFunction<Tensor> lossOnly,
                                       IterationListener listener) {
        float coefficient = (float) stepSize;
        Tensor embedding = start;
        Tensor best = start;
        Tensor bestGradient = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        double[] losses = new double[updates + 1];
        int evaluated = 0;
        for (int iteration = 0; iteration <= updates; iteration++) {
            ProbeResult result = iteration < updates
                    ? gradient.evaluate(latent, timestep, embedding, capture, objective) : null;
            double value = result != null ? result.loss() : lossOnly.applyAsDouble(embedding);
            losses[evaluated++] = value;
            boolean improved = value < bestLoss;
            if (improved) {
                best = embedding;
                bestLoss = value;
                bestGradient = result != null ? result.contextGradient() : null;
            }
            if (!listener.onIteration(iteration, value, embedding)) {
                return new Outcome(best, java.util.Arrays.copyOf(losses, evaluated), true);
            }
            if (result == null || value == 0.0) {
                break;
            }
            if (improved || rule == FastItoOptions.StepRule.FIXED) {
                if (improved && rule == FastItoOptions.StepRule.ADAPTIVE && iteration > 0) {
                    coefficient *= 1.5f;
                }
                embedding = descend(embedding, result.contextGradient(), coefficient);
            } else {
                coefficient /= 2;
                embedding = descend(best, bestGradient, coefficient);
            }
        }
        return new Outcome(best, java.util.Arrays.copyOf(losses, evaluated), false);
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
