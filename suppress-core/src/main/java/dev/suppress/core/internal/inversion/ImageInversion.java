package dev.suppress.core.internal.inversion;

import dev.suppress.core.inversion.NullTextOptions;

import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.internal.schedule.ClassifierFreeGuidance;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Inverting a real photo's latent (ALGORITHM.md §6, the reference's {@code NullInversion}): DDIM inversion with the
 * prompt's embedding, then the unconditional embedding of each step by null-text optimization or negative-prompt
 * inversion.
 */
public final class ImageInversion {

    private final DenoiserWithAttention denoiser;
    private final DdimScheduler scheduler;
    private final double guidanceScale;
    /** The pooled embeddings {@code [P]} a UNet with {@code text_time} conditioning takes (SDXL), else null. */
    private final Tensor promptPooled;
    private final Tensor unconditionalPooled;

    /**
     * @param denoiser      the UNet
     * @param scheduler     the DDIM schedule of the later suppression run (same steps)
     * @param guidanceScale the guidance of the later run (7.5), which null-text optimization reproduces
     */
    public ImageInversion(DenoiserWithAttention denoiser, DdimScheduler scheduler, double guidanceScale) {
        this(denoiser, scheduler, guidanceScale, null, null);
    }

    /**
     * For a UNet that takes a pooled text embedding beside the context (SDXL): the prompt's, in every conditional
     * pass, and the unconditional passes' one, in every unconditional pass (null-text inversion optimises the
     * per-token unconditional embedding; its pooled embedding stays fixed).
     *
     * @param promptPooled        {@code [P]}, or {@code null} for a UNet that takes none
     * @param unconditionalPooled {@code [P]}, or {@code null} for a UNet that takes none
     */
    public ImageInversion(DenoiserWithAttention denoiser, DdimScheduler scheduler, double guidanceScale,
                          Tensor promptPooled, Tensor unconditionalPooled) {
        if ((promptPooled == null) != (unconditionalPooled == null)) {
            throw new IllegalArgumentException("Need both pooled embeddings or neither");
        }
        this.promptPooled = promptPooled;
        this.unconditionalPooled = unconditionalPooled;
        this.denoiser = Objects.requireNonNull(denoiser, "denoiser");
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
        this.guidanceScale = guidanceScale;
    }

    /** Told of each inverted step; returning false stops the work before the next UNet pass. */
    @FunctionalInterface
    public interface StepListener {
        /**
         * @param stepIndex  the denoising step whose embedding was found
         * @param innerSteps optimizer steps taken
         * @param loss       the last reconstruction loss (NaN when none was computed)
         * @return whether to go on
         */
        boolean onStep(int stepIndex, int innerSteps, double loss);
    }

    /** Thrown when a {@link StepListener} stops the inversion. */
    public static final class Stopped extends RuntimeException {
        private final int stepIndex;

        Stopped(int stepIndex) {
            super("Inversion stopped after step " + stepIndex, null, false, false);
            this.stepIndex = stepIndex;
        }

        /** The last step finished. */
        public int stepIndex() {
            return stepIndex;
        }
    }

    /**
     * DDIM inversion with the conditional embedding only (guidance 1): the reference's {@code ddim_loop}.
     *
     * @param latent    the encoded photo {@code [1, 4, h, w]}
     * @param condition the prompt's embedding {@code [77, M]}
     * @return {@code S + 1} latents: the photo's, then one per inverted step, the last being {@code z_T}
     */
    public List<Tensor> ddimInversion(Tensor latent, Tensor condition) {
        int[] timesteps = scheduler.timesteps();
        Tensor contexts = condition.asBatchOfOne();
        List<Tensor> latents = new ArrayList<>(timesteps.length + 1);
        latents.add(latent);
        Tensor current = latent;
        for (int i = 0; i < timesteps.length; i++) {
            int timestep = timesteps[timesteps.length - 1 - i];
            Tensor noise = denoiser.denoise(current, timestep, contexts, pooled(promptPooled), null)
                    .noisePrediction();
            current = scheduler.inverseStep(noise, timestep, current);
            latents.add(current);
        }
        return latents;
    }

    /** Negative-prompt inversion: the prompt's embedding as the unconditional one at every step. */
    public List<Tensor> negativePromptInversion(Tensor condition, StepListener listener) {
        int steps = scheduler.numInferenceSteps();
        List<Tensor> embeddings = new ArrayList<>(steps);
        for (int i = 0; i < steps; i++) {
            embeddings.add(condition);
            if (!listener.onStep(i, 0, Double.NaN)) {
                throw new Stopped(i);
            }
        }
        return embeddings;
    }

    /**
     * Null-text optimization: the reference's {@code null_optimization}. At step {@code i} (timestep {@code t_i}),
     * starting from the previous step's embedding (the first from {@code unconditional}), Adam with learning rate
     * {@code base·(1 − i/100)} minimises the mean squared error between the guided DDIM step from the current
     * latent and the inversion's latent one level down, for at most {@code innerSteps} steps, stopping once the
     * loss is below {@code ε + i·2e-5}; then the current latent takes that guided step.
     *
     * @param latents       the DDIM inversion's {@code S + 1} latents
     * @param condition     the prompt's embedding {@code [77, M]}
     * @param unconditional the starting unconditional embedding (the encoding of "") {@code [77, M]}
     * @param probe         the backend's autograd probe
     * @param options       inner steps, early stop, learning rate
     * @param listener      told of each step
     * @return the unconditional embedding of each of the {@code S} steps
     */
    public List<Tensor> nullText(List<Tensor> latents, Tensor condition, Tensor unconditional, GradientProbe probe,
                                 NullTextOptions options, StepListener listener) {
        int steps = scheduler.numInferenceSteps();
        if (latents.size() != steps + 1) {
            throw new IllegalArgumentException("Expected " + (steps + 1) + " inversion latents, got " + latents.size());
        }
        Tensor current = latents.get(steps);
        Tensor embedding = unconditional;
        List<Tensor> embeddings = new ArrayList<>(steps);
        for (int i = 0; i < steps; i++) {
            NullTextStep step = optimiseStep(i, current, latents.get(steps - 1 - i), condition, embedding, probe,
                    options);
            embedding = step.embedding();
            embeddings.add(embedding);
            current = guidedStep(current, scheduler.timestep(i), embedding, condition);
            double[] losses = step.losses();
            if (!listener.onStep(i, losses.length, losses[losses.length - 1])) {
                throw new Stopped(i);
            }
        }
        return embeddings;
    }

    /**
     * One step's optimization of the unconditional embedding.
     *
     * @param embedding the optimised embedding {@code [77, M]}
     * @param losses    the reconstruction loss before each Adam update
     */
    public record NullTextStep(Tensor embedding, double[] losses) {

        public NullTextStep {
            losses = losses.clone();
        }

        @Override
        public double[] losses() {
            return losses.clone();
        }
    }

    /**
     * Null-text optimization of denoising step {@code stepIndex}: Adam on the unconditional embedding so that the
     * guided DDIM step from {@code current} lands on {@code target}.
     *
     * @param stepIndex the step i (its timestep and learning rate)
     * @param current   the latent the step starts from {@code [1, 4, h, w]}
     * @param target    the inversion latent one level down {@code [1, 4, h, w]}
     * @param condition the prompt's embedding {@code [77, M]}
     * @param start     the embedding to start from (the previous step's result) {@code [77, M]}
     * @param probe     the backend's autograd probe
     * @param options   inner steps, early stop, learning rate
     */
    public NullTextStep optimiseStep(int stepIndex, Tensor current, Tensor target, Tensor condition, Tensor start,
                                     GradientProbe probe, NullTextOptions options) {
        int timestep = scheduler.timestep(stepIndex);
        float[] embedding = start.toArray();
        Adam adam = new Adam(embedding.length, options.learningRate(stepIndex));
        float[] conditional = denoiser.denoise(current, timestep, condition.asBatchOfOne(), pooled(promptPooled),
                null).noisePrediction().toArray();
        NoiseObjective objective = reconstructionLoss(current, target, conditional, timestep);
        double[] losses = new double[options.innerSteps()];
        int inner = 0;
        while (inner < options.innerSteps()) {
            NoiseProbeResult result = probe.noiseGradient(current, timestep,
                    Tensor.wrapOwned(embedding.clone(), start.shape()), pooled(unconditionalPooled), objective);
            adam.stepInPlace(embedding, result.contextGradient().toArray());
            losses[inner++] = result.loss();
            // the reference checks the loss of the pass before its update, after taking the update
            if (result.loss() < options.earlyStopEpsilon() + stepIndex * 2e-5) {
                break;
            }
        }
        return new NullTextStep(Tensor.wrapOwned(embedding, start.shape()), java.util.Arrays.copyOf(losses, inner));
    }

    /**
     * {@code mean((step(u + g(c − u)) − target)²)} as a function of the unconditional noise prediction {@code u},
     * with its gradient {@code 2/N · (step − target) · dstep/dnoise · (1 − g)}.
     */
    private NoiseObjective reconstructionLoss(Tensor current, Tensor target, float[] conditional, int timestep) {
        double slope = scheduler.stepOutputDerivative(timestep) * (1.0 - guidanceScale);
        float[] expected = target.toArray();
        return unconditionalNoise -> {
            float[] u = unconditionalNoise.toArray();
            float[] guided = ClassifierFreeGuidance.guide(u, conditional, guidanceScale);
            float[] reconstructed = scheduler.step(Tensor.wrapOwned(guided, current.shape()), timestep, current)
                    .prevSample().toArray();
            double sum = 0;
            float[] gradient = new float[u.length];
            double scale = 2.0 / u.length * slope;
            for (int k = 0; k < u.length; k++) {
                double error = (double) reconstructed[k] - expected[k];
                sum += error * error;
                gradient[k] = (float) (scale * error);
            }
            return new NoiseObjective.NoiseGradient(sum / u.length, Tensor.wrapOwned(gradient,
                    unconditionalNoise.shape()));
        };
    }

    /** The guided DDIM step with [unconditional, conditional] as one batch of two. */
    public Tensor guidedStep(Tensor latent, int timestep, Tensor unconditional, Tensor condition) {
        Tensor noise = denoiser.denoise(Tensor.concat(latent, latent), timestep,
                Tensor.stack(unconditional, condition), pooled(unconditionalPooled, promptPooled), null)
                .noisePrediction();
        return scheduler.step(ClassifierFreeGuidance.guide(noise, 1, guidanceScale), timestep, latent).prevSample();
    }

    /** The pooled embeddings as a batch {@code [n, P]}, or {@code null} for a UNet that takes none. */
    private static Tensor pooled(Tensor... rows) {
        return rows[0] == null ? null : Tensor.stack(rows);
    }
}
