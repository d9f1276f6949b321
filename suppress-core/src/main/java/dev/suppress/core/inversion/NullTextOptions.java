package dev.suppress.core.inversion;

/**
 * Null-text inversion's optimizer settings (ALGORITHM.md §6, the reference's defaults).
 *
 * @param innerSteps       at most this many Adam steps per denoising step (10)
 * @param earlyStopEpsilon stop a step's optimization once its loss is below {@code ε + i·2e-5} (ε = 1e-5)
 * @param baseLearningRate the learning rate at step 0; step {@code i} uses {@code base·(1 − i/100)} (0.01)
 */
public record NullTextOptions(int innerSteps, double earlyStopEpsilon, double baseLearningRate) {

    /** The reference's settings. */
    public static final NullTextOptions REFERENCE = new NullTextOptions(10, 1e-5, 1e-2);

    public NullTextOptions {
        if (innerSteps < 1) {
            throw new IllegalArgumentException("Null-text inversion needs at least one inner step, got " + innerSteps);
        }
        if (!(earlyStopEpsilon >= 0) || !Double.isFinite(earlyStopEpsilon)) {
            throw new IllegalArgumentException("earlyStopEpsilon must be finite and >= 0, got " + earlyStopEpsilon);
        }
        if (!(baseLearningRate > 0) || !Double.isFinite(baseLearningRate)) {
            throw new IllegalArgumentException("baseLearningRate must be positive, got " + baseLearningRate);
        }
    }

    /** The learning rate of step {@code i}: the reference's {@code 1e-2 * (1 - i / 100)}, whatever the step count. */
    public double learningRate(int stepIndex) {
        return baseLearningRate * (1.0 - stepIndex / 100.0);
    }
}
