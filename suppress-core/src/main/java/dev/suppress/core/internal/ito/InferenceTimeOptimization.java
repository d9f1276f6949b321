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
     * Fast mode's optimisation: at most {@code maxUpdates} updates from {@code start} under {@code rule}; unless the
     * rule is {@link FastItoOptions.StepRule#FIXED}, it stops early when an update lowers the best loss by less than
     * {@code relativeTolerance} of its magnitude (the attention loss is often negative) or two updates in a row fail
     * to lower it. The iterate with the lowest loss is returned; the iterate after the last update is evaluated with
     * {@code lossOnly} (a forward pass without backward).
     *
     * @param maxUpdates the most updates
     * @param lossOnly   evaluates the loss alone at an embedding (an attention-only pass)
     * @param listener   told of every evaluated iterate: its loss, and the embedding its update produced (the iterate
     *                   itself when it was not updated)
     * @return the best iterate, the losses of every evaluated iterate, and as {@code cancelled} whether the
     *         listener stopped the loop
     */
    public Outcome optimiseAdaptive(Tensor latent, int timestep, Tensor start, AttentionCapture capture,
                                    AttentionObjective objective, double stepSize, FastItoOptions.StepRule rule,
                                    double relativeTolerance, int maxUpdates,
                                    java.util.function.ToDoubleFunction<Tensor> lossOnly,
                                    IterationListener listener) {
        return optimiseAdaptive(latent, timestep, start, capture, objective, stepSize, rule, relativeTolerance,
                maxUpdates, maxUpdates, Double.POSITIVE_INFINITY, lossOnly, listener);
    }

    /**
     * As {@link #optimiseAdaptive(Tensor, int, Tensor, AttentionCapture, AttentionObjective, double,
     * FastItoOptions.StepRule, double, int, java.util.function.ToDoubleFunction, IterationListener)} with
     * {@code share} updates, which may grow to {@code cap} while the optimisation is still gaining fast: past the share
     * an iterate is probed (and updated) only when the update before it lowered the best loss by at least
     * {@code continueGain} of its magnitude, and the step ends at the first iterate that gains less (that iterate's
     * probe is spent without an update). The gain is an update's, so a share under 2 never goes on.
     *
     * @param share        the updates the step is given
     * @param cap          the most updates it may take while each one gains at least {@code continueGain}
     * @param continueGain the relative gain that earns one more update past the share
     */
    public Outcome optimiseAdaptive(Tensor latent, int timestep, Tensor start, AttentionCapture capture,
                                    AttentionObjective objective, double stepSize, FastItoOptions.StepRule rule,
                                    double relativeTolerance, int share, int cap, double continueGain,
                                    java.util.function.ToDoubleFunction<Tensor> lossOnly,
                                    IterationListener listener) {
        if (cap < share) {
            throw new IllegalArgumentException("cap " + cap + " < share " + share);
        }
        Objects.requireNonNull(rule, "rule");
        float coefficient = (float) stepSize;
        boolean stopsEarly = rule != FastItoOptions.StepRule.FIXED;
        QuasiNewton quasiNewton = rule == FastItoOptions.StepRule.QUASI_NEWTON ? new QuasiNewton(stepSize) : null;
        Tensor embedding = start;
        Tensor best = start;
        Tensor bestGradient = null;
        double bestLoss = Double.POSITIVE_INFINITY;
        java.util.List<Double> losses = new java.util.ArrayList<>();
        int updates = 0;
        int failures = 0;
        // whether the last evaluated iterate lowered the best loss by at least continueGain of its magnitude
        boolean gainingFast = false;
        for (int iteration = 0; ; iteration++) {
            boolean probe = updates < share || (updates < cap && gainingFast);
            ProbeResult result = probe ? gradient.evaluate(latent, timestep, embedding, capture, objective) : null;
            double value = result != null ? result.loss() : lossOnly.applyAsDouble(embedding);
            losses.add(value);
            if (quasiNewton != null && result != null) {
                quasiNewton.observe(embedding, result.contextGradient());
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
            gainingFast = improved && iteration > 0 && previousBest - value >= continueGain * Math.abs(previousBest);
            boolean stop = result == null || value == 0.0 || updates >= cap
                    || (updates >= share && !gainingFast)
                    || (stopsEarly && (failures >= 2 || (improved && iteration > 0
                    && previousBest - value < relativeTolerance * Math.abs(previousBest))));
            Tensor next = embedding;
            if (!stop) {
                if (quasiNewton != null) {
                    next = improved ? quasiNewton.descentFrom(embedding, result.contextGradient(), iteration == 0)
                            : quasiNewton.shorter(best);
                } else if (improved || rule == FastItoOptions.StepRule.FIXED) {
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

    /**
     * The {@link FastItoOptions.StepRule#QUASI_NEWTON} rule's state within one step: the curvature pairs
     * {@code (s, y)} of consecutive probed iterates (the newest {@value #PAIRS}, a pair kept only where
     * {@code s·y > 0}) and the direction taken from the best iterate.
     */
    private static final class QuasiNewton {

        /** Curvature pairs kept. */
        static final int PAIRS = 5;
        /** A direction is at most this many gradient steps {@code s·√r_i |g|} long. */
        static final double MAX_LENGTH = 4;

        private final double stepSize;
        private final java.util.ArrayDeque<double[][]> pairs = new java.util.ArrayDeque<>();
        private double[] lastPoint;
        private double[] lastGradient;
        private double[] direction;
        private double length;

        QuasiNewton(double stepSize) {
            this.stepSize = stepSize;
        }

        /** A probed iterate and its gradient: the pair with the previous one, when its curvature is positive. */
        void observe(Tensor point, Tensor slope) {
            double[] x = doubles(point);
            double[] g = doubles(slope);
            if (lastPoint != null) {
                double[] s = x.clone();
                axpy(-1, lastPoint, s);
                double[] y = g.clone();
                axpy(-1, lastGradient, y);
                double sy = dot(s, y);
                if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
                    pairs.addLast(new double[][] {s, y, {1.0 / sy}});
                    if (pairs.size() > PAIRS) {
                        pairs.removeFirst();
                    }
                }
            }
            lastPoint = x;
            lastGradient = g;
        }

        /**
         * The update from a new best iterate: half a gradient step at the step's first update, later the L-BFGS
         * direction (a plain gradient step while no pair is kept or the direction does not descend).
         */
        Tensor descentFrom(Tensor point, Tensor slope, boolean firstUpdate) {
            double[] g = doubles(slope);
            double scale = firstUpdate ? stepSize / 2 : stepSize;
            double[] plain = g.clone();
            for (int i = 0; i < plain.length; i++) {
                plain[i] = -scale * plain[i];
            }
            double[] d = twoLoop(g);
            if (d == null || !(dot(d, g) < 0)) {
                d = plain;
            } else {
                double limit = MAX_LENGTH * Math.sqrt(dot(plain, plain));
                double norm = Math.sqrt(dot(d, d));
                if (norm > limit) {
                    for (int i = 0; i < d.length; i++) {
                        d[i] *= limit / norm;
                    }
                }
            }
            direction = d;
            length = 1.0;
            return along(point, d, length);
        }

        /** After a rise: from the best iterate along its direction, half as far as the last try. */
        Tensor shorter(Tensor best) {
            length /= 2;
            return along(best, direction, length);
        }

        /** {@code −H g} by the two-loop recursion with {@code H₀ = (s·y / y·y) I} from the newest pair; null without pairs. */
        private double[] twoLoop(double[] g) {
            if (pairs.isEmpty()) {
                return null;
            }
            double[] q = g.clone();
            java.util.List<double[][]> list = new java.util.ArrayList<>(pairs);
            double[] alpha = new double[list.size()];
            for (int i = list.size() - 1; i >= 0; i--) {
                double[][] p = list.get(i);
                alpha[i] = p[2][0] * dot(p[0], q);
                axpy(-alpha[i], p[1], q);
            }
            double[][] newest = list.get(list.size() - 1);
            double gamma = dot(newest[0], newest[1]) / dot(newest[1], newest[1]);
            for (int i = 0; i < q.length; i++) {
                q[i] *= gamma;
            }
            for (int i = 0; i < list.size(); i++) {
                double[][] p = list.get(i);
                double beta = p[2][0] * dot(p[1], q);
                axpy(alpha[i] - beta, p[0], q);
            }
            for (int i = 0; i < q.length; i++) {
                q[i] = -q[i];
            }
            return q;
        }
    }

    private static double dot(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }

    /** {@code y += a x}. */
    private static void axpy(double a, double[] x, double[] y) {
        for (int i = 0; i < y.length; i++) {
            y[i] += a * x[i];
        }
    }

    private static double[] doubles(Tensor tensor) {
        float[] values = tensor.toArray();
        double[] result = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            result[i] = values[i];
        }
        return result;
    }

    private static Tensor along(Tensor from, double[] direction, double scale) {
        float[] values = from.toArray();
        if (direction.length != values.length) {
            throw new IllegalStateException("Direction of " + direction.length + " values does not match the embedding "
                    + from);
        }
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (values[i] + scale * direction[i]);
        }
        return Tensor.wrapOwned(values, from.shape());
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
