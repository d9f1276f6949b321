package dev.suppress.core.internal.inversion;

/**
 * The Adam optimizer on one float32 parameter vector, as {@code torch.optim.Adam} (torch 1.13, single-tensor path,
 * defaults {@code betas = (0.9, 0.999)}, {@code eps = 1e-8}, no weight decay): each line is the float32 tensor
 * operation torch performs, with Python-float scalars rounded to float32 as torch's kernels do.
 *
 * <p>Mutable, not thread-safe; null-text inversion makes a fresh one per denoising step, as the reference does.
 */
public final class Adam {

    private static final double BETA1 = 0.9;
    private static final double BETA2 = 0.999;
    private static final float EPSILON = 1e-8f;

    private final double learningRate;
    private final float[] firstMoment;
    private final float[] secondMoment;
    private int step;

    /**
     * @param size         the number of parameters
     * @param learningRate the step size
     */
    public Adam(int size, double learningRate) {
        if (!(learningRate > 0) || !Double.isFinite(learningRate)) {
            throw new IllegalArgumentException("Learning rate must be positive and finite, got " + learningRate);
        }
        this.learningRate = learningRate;
        this.firstMoment = new float[size];
        this.secondMoment = new float[size];
    }

    /**
     * One update of {@code parameters} in place.
     *
     * @param parameters the parameters; modified
     * @param gradient   their gradient; not modified
     */
    public void stepInPlace(float[] parameters, float[] gradient) {
        if (parameters.length != firstMoment.length || gradient.length != firstMoment.length) {
            throw new IllegalArgumentException("Adam over " + firstMoment.length + " parameters got "
                    + parameters.length + " parameters and " + gradient.length + " gradients");
        }
        step++;
        float beta1 = (float) BETA1;
        float oneMinusBeta1 = (float) (1 - BETA1);
        float beta2 = (float) BETA2;
        float oneMinusBeta2 = (float) (1 - BETA2);
        double biasCorrection1 = 1 - Math.pow(BETA1, step);
        double biasCorrection2 = 1 - Math.pow(BETA2, step);
        float stepSize = (float) (learningRate / biasCorrection1);
        float biasCorrection2Sqrt = (float) Math.sqrt(biasCorrection2);
        for (int i = 0; i < parameters.length; i++) {
            float g = gradient[i];
            // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1): ATen's vectorised add is fmadd(grad, alpha, self)
            firstMoment[i] = Math.fma(g, oneMinusBeta1, firstMoment[i] * beta1);
            // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2): self + value * t1 * t2
            secondMoment[i] = secondMoment[i] * beta2 + oneMinusBeta2 * g * g;
            // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            float denominator = (float) Math.sqrt(secondMoment[i]) / biasCorrection2Sqrt + EPSILON;
            // param.addcdiv_(exp_avg, denom, value=-step_size): self + value * t1 / t2
            parameters[i] = parameters[i] + -stepSize * firstMoment[i] / denominator;
        }
    }

    /** The number of updates so far. */
    public int steps() {
        return step;
    }
}
