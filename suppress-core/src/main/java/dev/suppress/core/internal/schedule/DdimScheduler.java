package dev.suppress.core.internal.schedule;

import dev.suppress.core.schedule.SchedulerConfig;

import dev.suppress.core.backend.UNetDescription.PredictionType;
import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * The DDIM sampler with {@code eta = 0} (ALGORITHM.md §5), mirroring diffusers v0.21.4 {@code DDIMScheduler}: an
 * immutable value built from a {@link SchedulerConfig} and the number of inference steps S, whose timesteps,
 * betas and alpha products are computed once, and whose {@link #step} is a pure function. Thread-safe.
 *
 * <p>The arithmetic follows PyTorch's float32 so that results match the reference bit for bit on the fixtures:
 * betas come from {@code torch.linspace} as ATen's AVX2 kernel computes it, {@code alphas_cumprod} from
 * {@code torch.cumprod} (which accumulates in float64 on the CPU and rounds each product to float32), and every
 * tensor operation of {@code step} is one float32 operation with float32 scalar coefficients, as there.
 *
 * <p>Also provides the DDIM inversion step used for real images (§6), {@code NullInversion.next_step} of the
 * reference's {@code utils/null_text_inversion.py}; its {@code prev_step} is {@link #step} (they agree for
 * {@code eta = 0} and no clipping).
 */
public final class DdimScheduler {

    private final SchedulerConfig config;
    private final int numInferenceSteps;
    private final int stepRatio;
    private final int[] timesteps;
    private final float[] betas;
    private final float[] alphasCumprod;
    private final float finalAlphaCumprod;

    /** The two outputs of one denoising step, {@code DDIMSchedulerOutput}. */
    public record StepResult(Tensor prevSample, Tensor predOriginalSample) {

        /**
         * @param prevSample         {@code x_{t-1}}, same shape as the sample
         * @param predOriginalSample the predicted {@code x_0}, same shape as the sample
         */
        public StepResult {
            Objects.requireNonNull(prevSample, "prevSample");
            Objects.requireNonNull(predOriginalSample, "predOriginalSample");
        }
    }

    /**
     * {@code DDIMScheduler(**config).set_timesteps(numInferenceSteps)}.
     *
     * @param config            the scheduler config
     * @param numInferenceSteps S, between 1 and {@code config.numTrainTimesteps()}
     * @throws IllegalArgumentException when S is out of range or the spacing puts a timestep outside
     *                                  {@code [0, N - 1]} (e.g. {@code steps_offset} with S = N)
     */
    public DdimScheduler(SchedulerConfig config, int numInferenceSteps) {
        this.config = Objects.requireNonNull(config, "config");
        int trainSteps = config.numTrainTimesteps();
        if (numInferenceSteps < 1 || numInferenceSteps > trainSteps) {
            throw new IllegalArgumentException("numInferenceSteps must be between 1 and num_train_timesteps = "
                    + trainSteps + ", found " + numInferenceSteps);
        }
        this.numInferenceSteps = numInferenceSteps;
        this.stepRatio = trainSteps / numInferenceSteps;
        this.timesteps = timesteps(config, numInferenceSteps);
        for (int timestep : timesteps) {
            if (timestep < 0 || timestep >= trainSteps) {
                throw new IllegalArgumentException(config.timestepSpacing().configName() + " spacing with "
                        + numInferenceSteps + " steps and steps_offset " + config.stepsOffset() + " gives timestep "
                        + timestep + ", outside [0, " + (trainSteps - 1) + "]: " + Arrays.toString(timesteps));
            }
        }
        this.betas = betas(config);
        this.alphasCumprod = cumulativeAlphaProducts(betas);
        this.finalAlphaCumprod = config.setAlphaToOne() ? 1f : alphasCumprod[0];
    }

    /** {@code DDIMScheduler.set_timesteps}, in the order they are visited (descending). */
    private static int[] timesteps(SchedulerConfig config, int steps) {
        int trainSteps = config.numTrainTimesteps();
        int[] result;
        switch (config.timestepSpacing()) {
            case LEADING -> {
                int ratio = trainSteps / steps;
                result = new int[steps];
                for (int i = 0; i < steps; i++) {
                    result[i] = (steps - 1 - i) * ratio + config.stepsOffset();
                }
            }
            case TRAILING -> {
                // np.round(np.arange(N, 0, -N / S)) - 1, with numpy's length ceil(N / (N / S)) and its fill rule:
                // element i is start + i * (element 1 - element 0).
                double ratio = (double) trainSteps / steps;
                int count = (int) Math.ceil((0.0 - trainSteps) / -ratio);
                double second = trainSteps + -ratio;
                double delta = second - trainSteps;
                result = new int[count];
                for (int i = 0; i < count; i++) {
                    double value = i == 0 ? trainSteps : i == 1 ? second : trainSteps + i * delta;
                    result[i] = (int) Math.rint(value) - 1;
                }
            }
            case LINSPACE -> {
                // np.linspace(0, N - 1, S).round()[::-1]: element i is i * step, the last is exactly N - 1.
                result = new int[steps];
                double step = steps > 1 ? (trainSteps - 1.0) / (steps - 1) : 0.0;
                for (int i = 0; i < steps; i++) {
                    double value = steps > 1 && i == steps - 1 ? trainSteps - 1.0 : i * step;
                    result[steps - 1 - i] = (int) Math.rint(value);
                }
            }
            default -> throw new IllegalStateException("Unhandled spacing " + config.timestepSpacing());
        }
        return result;
    }

    private static float[] betas(SchedulerConfig config) {
        int trainSteps = config.numTrainTimesteps();
        return switch (config.betaSchedule()) {
            case LINEAR -> torchLinspace((float) config.betaStart(), (float) config.betaEnd(), trainSteps);
            case SCALED_LINEAR -> {
                // torch.linspace(beta_start ** 0.5, beta_end ** 0.5, N) ** 2; torch computes ** 2 as x * x.
                float[] roots = torchLinspace((float) Math.sqrt(config.betaStart()),
                        (float) Math.sqrt(config.betaEnd()), trainSteps);
                for (int i = 0; i < roots.length; i++) {
                    roots[i] = roots[i] * roots[i];
                }
                yield roots;
            }
        };
    }

    /**
     * {@code torch.linspace(start, end, steps, dtype=float32)} as ATen's AVX2 {@code linspace_kernel} computes it:
     * {@code step = (end - start) / (steps - 1)} in float; the first half counts up from {@code start}, the second
     * down from {@code end}; all but the last {@code steps % 16} values come in vectors of 8 whose first lane is
     * computed like a scalar and whose lane {@code j} is {@code first + j * step} ({@code Vectorized::arange}).
     * GCC fuses each of those multiply-adds into one FMA.
     */
    static float[] torchLinspace(float start, float end, int steps) {
        float[] out = new float[steps];
        if (steps == 1) {
            out[0] = start;
            return out;
        }
        float step = (end - start) / (float) (steps - 1);
        int halfway = steps / 2;
        int vectorLanes = 8;
        int vectorEnd = steps - steps % (2 * vectorLanes);
        for (int first = 0; first < vectorEnd; first += vectorLanes) {
            float base = linspaceScalar(start, end, step, steps, halfway, first);
            for (int lane = 0; lane < vectorLanes; lane++) {
                out[first + lane] = Math.fma((float) lane, step, base);
            }
        }
        for (int index = vectorEnd; index < steps; index++) {
            out[index] = linspaceScalar(start, end, step, steps, halfway, index);
        }
        return out;
    }

    private static float linspaceScalar(float start, float end, float step, int steps, int halfway, int index) {
        return index < halfway
                ? Math.fma(step, (float) index, start)
                : Math.fma(-step, (float) (steps - index - 1), end);
    }

    /** {@code torch.cumprod(1.0 - betas, 0)}: float32 alphas, float64 running product, float32 outputs. */
    private static float[] cumulativeAlphaProducts(float[] betas) {
        float[] products = new float[betas.length];
        double running = 1.0;
        for (int i = 0; i < betas.length; i++) {
            float alpha = 1f - betas[i];
            running *= alpha;
            products[i] = (float) running;
        }
        return products;
    }

    /** The config this scheduler was built from. */
    public SchedulerConfig config() {
        return config;
    }

    /** S, the number of inference steps. */
    public int numInferenceSteps() {
        return numInferenceSteps;
    }

    /** {@code N // S}: the distance {@link #step} goes back and {@link #inverseStep} goes forward. */
    public int stepRatio() {
        return stepRatio;
    }

    /** The timesteps in the order they are visited, descending (a copy); e.g. 981, 961, …, 1 for §5. */
    public int[] timesteps() {
        return timesteps.clone();
    }

    /** The timestep of diffusion step index {@code stepIndex} (0 is the noisiest). */
    public int timestep(int stepIndex) {
        if (stepIndex < 0 || stepIndex >= timesteps.length) {
            throw new IndexOutOfBoundsException("Step index " + stepIndex + " outside [0, " + timesteps.length
                    + ")");
        }
        return timesteps[stepIndex];
    }

    /** The betas, {@code [N]} (a copy). */
    public float[] betas() {
        return betas.clone();
    }

    /** {@code alphas_cumprod}, {@code [N]} (a copy). */
    public float[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /** {@code final_alpha_cumprod}: the alpha product used before timestep 0. */
    public float finalAlphaCumprod() {
        return finalAlphaCumprod;
    }

    /** The alpha product at {@code timestep}, or {@link #finalAlphaCumprod()} when it is negative. */
    private float alphaProduct(int timestep) {
        return timestep >= 0 ? alphasCumprod[timestep] : finalAlphaCumprod;
    }

    /**
     * One DDIM step from {@code timestep} to {@code timestep - N // S}, {@code eta = 0}: diffusers
     * {@code DDIMScheduler.step}. For v-prediction the model output is converted to {@code x_0} and {@code epsilon}
     * as there; when {@code clip_sample} is set, {@code x_0} is clamped before use.
     *
     * @param modelOutput the UNet prediction (epsilon or v), {@code [batch, 4, h, w]}; not modified
     * @param timestep    the current timestep t, in {@code [0, N - 1]}
     * @param sample      {@code x_t}, same shape as {@code modelOutput}; not modified
     * @return {@code x_{t-1}} and the predicted {@code x_0}, new tensors of the sample's shape
     * @throws IllegalArgumentException when the shapes differ or the timestep is out of range
     */
    public StepResult step(Tensor modelOutput, int timestep, Tensor sample) {
        checkInputs(modelOutput, timestep, sample);
        float alphaProductT = alphasCumprod[timestep];
        float alphaProductPrev = alphaProduct(timestep - stepRatio);
        float[] prev = new float[sample.size()];
        float[] original = new float[sample.size()];
        ddimUpdate(modelOutput, sample, alphaProductT, alphaProductPrev, config.clipSample(), prev, original);
        int[] shape = sample.shape();
        return new StepResult(Tensor.wrapOwned(prev, shape), Tensor.wrapOwned(original, shape));
    }

    /**
     * How {@link #step}'s {@code x_{t-1}} changes with the model output: the step is affine in it (without
     * {@code clip_sample}), with this slope for every element. Null-text inversion back-propagates through the step
     * with it.
     *
     * @param timestep the current timestep t
     * @throws IllegalStateException when {@code clip_sample} is on (the step is then not affine)
     */
    public double stepOutputDerivative(int timestep) {
        if (config.clipSample()) {
            throw new IllegalStateException("With clip_sample the DDIM step is not affine in the model output");
        }
        checkTimestep(timestep);
        double alphaFrom = alphasCumprod[timestep];
        double alphaTo = alphaProduct(timestep - stepRatio);
        double sqrtAlphaFrom = Math.sqrt(alphaFrom);
        double sqrtBetaFrom = Math.sqrt(1 - alphaFrom);
        if (config.predictionType() == PredictionType.V_PREDICTION) {
            // x0 = sqrt(a) x - sqrt(b) v, eps = sqrt(a) v + sqrt(b) x
            return -Math.sqrt(alphaTo) * sqrtBetaFrom + Math.sqrt(1 - alphaTo) * sqrtAlphaFrom;
        }
        return -Math.sqrt(alphaTo) * sqrtBetaFrom / sqrtAlphaFrom + Math.sqrt(1 - alphaTo);
    }

    /**
     * The DDIM inversion step of the reference ({@code NullInversion.next_step}): the UNet was evaluated at
     * {@code timestep} on a latent whose noise level is {@code timestep - N // S} (or clean, when that is
     * negative: {@link #finalAlphaCumprod()}), and the latent is moved to noise level {@code timestep}. The
     * reference caps the source level at 999; here at {@code N - 1}. For epsilon prediction it inverts
     * {@link #step} given the same model output. V-prediction is converted with the source level's alpha
     * product, as diffusers' {@code DDIMInverseScheduler} does. No clipping (the reference does none).
     *
     * @param modelOutput the UNet prediction at {@code timestep}, {@code [batch, 4, h, w]}; not modified
     * @param timestep    the target timestep t, in {@code [0, N - 1]}
     * @param sample      the latent at level {@code t - N // S}, same shape; not modified
     * @return the latent at level t, a new tensor
     * @throws IllegalArgumentException when the shapes differ or the timestep is out of range
     */
    public Tensor inverseStep(Tensor modelOutput, int timestep, Tensor sample) {
        checkInputs(modelOutput, timestep, sample);
        int sourceTimestep = Math.min(timestep - stepRatio, config.numTrainTimesteps() - 1);
        float alphaProductSource = alphaProduct(sourceTimestep);
        float alphaProductTarget = alphasCumprod[timestep];
        float[] next = new float[sample.size()];
        ddimUpdate(modelOutput, sample, alphaProductSource, alphaProductTarget, false, next, null);
        return Tensor.wrapOwned(next, sample.shape());
    }

    /**
     * The shared DDIM update from the level with alpha product {@code alphaFrom} to the one with {@code alphaTo}:
     * {@code x_0 = (x - sqrt(1 - a_from) eps) / sqrt(a_from)}, {@code x' = sqrt(a_to) x_0 + sqrt(1 - a_to) eps}.
     * Each line is a float32 operation as in PyTorch, with float32 square roots of float32 scalars.
     *
     * @param target   receives x'; modified
     * @param original receives x_0 when not null; modified
     */
    private void ddimUpdate(Tensor modelOutput, Tensor sample, float alphaFrom, float alphaTo, boolean clip,
                            float[] target, float[] original) {
        float betaFrom = 1f - alphaFrom;
        float sqrtAlphaFrom = (float) Math.sqrt(alphaFrom);
        float sqrtBetaFrom = (float) Math.sqrt(betaFrom);
        float sqrtAlphaTo = (float) Math.sqrt(alphaTo);
        // diffusers: (1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5 with std_dev_t = eta * ... = 0.
        float directionScale = (float) Math.sqrt(1f - alphaTo);
        boolean velocity = config.predictionType() == PredictionType.V_PREDICTION;
        float clipRange = (float) config.clipSampleRange();
        int size = sample.size();
        for (int i = 0; i < size; i++) {
            float output = modelOutput.get(i);
            float x = sample.get(i);
            float predOriginal;
            float predEpsilon;
            if (velocity) {
                predOriginal = sqrtAlphaFrom * x - sqrtBetaFrom * output;
                predEpsilon = sqrtAlphaFrom * output + sqrtBetaFrom * x;
            } else {
                predOriginal = (x - sqrtBetaFrom * output) / sqrtAlphaFrom;
                predEpsilon = output;
            }
            if (clip) {
                predOriginal = Math.max(-clipRange, Math.min(clipRange, predOriginal));
            }
            target[i] = sqrtAlphaTo * predOriginal + directionScale * predEpsilon;
            if (original != null) {
                original[i] = predOriginal;
            }
        }
    }

    private void checkInputs(Tensor modelOutput, int timestep, Tensor sample) {
        if (!Arrays.equals(modelOutput.shape(), sample.shape())) {
            throw new IllegalArgumentException("Model output shape " + Arrays.toString(modelOutput.shape())
                    + " differs from sample shape " + Arrays.toString(sample.shape()));
        }
        checkTimestep(timestep);
    }

    private void checkTimestep(int timestep) {
        if (timestep < 0 || timestep >= config.numTrainTimesteps()) {
            throw new IllegalArgumentException("Timestep " + timestep + " outside [0, "
                    + (config.numTrainTimesteps() - 1) + "]");
        }
    }

    /** Equal when built from equal configs and step counts. */
    @Override
    public boolean equals(Object other) {
        return other instanceof DdimScheduler that && config.equals(that.config)
                && numInferenceSteps == that.numInferenceSteps;
    }

    @Override
    public int hashCode() {
        return 31 * config.hashCode() + numInferenceSteps;
    }

    @Override
    public String toString() {
        return "DdimScheduler[" + numInferenceSteps + " steps, " + config + "]";
    }
}
