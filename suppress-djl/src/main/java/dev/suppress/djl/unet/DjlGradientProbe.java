package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.GradientCollector;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.nn.TorchRuntime;
import dev.suppress.djl.unet.AttentionRecorder.AfterLastNeeded;

import java.util.Arrays;

/**
 * The autograd probe of DESIGN.md on a {@link DjlDenoiser}'s UNet: the conditional pass with the context requiring
 * gradient (the whole UNet, its blocks after the last captured layer run with autograd's recording off, or stopped
 * after that layer); the aggregated maps go to core's objective, and the vector-Jacobian product
 * {@code dL/dcontext = J^T dL/dmaps} comes from one backward pass of
 * {@code sum(cross * dL/dcross) + sum(self * dL/dself)}.
 *
 * <p>Each call opens its own {@link GradientCollector} on a fresh context array, so gradients never accumulate,
 * and frees the graph and every intermediate with its NDManager before returning. DJL allows one collector per
 * process, so probes are serialised on a process-wide lock.
 *
 * <p>The vector-Jacobian product of the noise prediction (what null-text inversion needs) is the same pattern:
 * {@code UNet2DConditionModel.forward} to the end with a recorder that records nothing, and one backward pass of
 * {@code sum(noise * dL/dnoise)}.
 */
public final class DjlGradientProbe implements GradientProbe {

    /** DJL's PyTorch gradient collector is process-wide: a second one open at the same time throws. */
    private static final Object COLLECTOR_LOCK = new Object();

    private final DjlDenoiser denoiser;

    /** A probe on the denoiser's UNet; it is usable as long as the denoiser is open. */
    public DjlGradientProbe(DjlDenoiser denoiser) {
        this.denoiser = denoiser;
    }

    /**
     * @param latent  {@code [1, inChannels, h, h]}; not modified
     * @param context {@code [keys, M]}; not modified
     * @throws IllegalArgumentException when the shapes do not fit, the capture does not fit the UNet, or the
     *                                  objective's gradients do not have the shapes of the maps
     * @throws IllegalStateException    after the denoiser is closed
     */
    @Override
    public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                             AttentionObjective objective, ForwardExtent extent) {
        return probe(latent, timestep, context, null, capture, objective, extent);
    }

    /**
     * As the other overload, for an SDXL ({@code text_time}) UNet: {@code pooled} {@code [1, P]} and SDXL's
     * default time ids held fixed, the gradient with respect to the context only.
     */
    @Override
    public ProbeResult probe(Tensor latent, int timestep, Tensor context, Tensor pooled, AttentionCapture capture,
                             AttentionObjective objective, ForwardExtent extent) {
        if (capture == null || objective == null) {
            throw new IllegalArgumentException("probe() needs a capture and an objective");
        }
        UNet2DConditionModel model = checkedModel(latent, context, capture);
        TextTimeConditioning added = DjlDenoiser.textTime(latent, pooled);
        model.checkAdded(added, 1);
        synchronized (COLLECTOR_LOCK) {
            try (NDManager scope = model.newScope();
                 GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
                NDArray leaf = Tensors.toNDArray(scope, context);
                leaf.setRequiresGradient(true);
                long forwardStarted = System.nanoTime();
                // a full pass runs its blocks after the last captured layer without saving their activations
                AttentionRecorder recorder = denoiser.recorder(capture, latent,
                        extent == ForwardExtent.THROUGH_CAPTURED_LAYERS ? AfterLastNeeded.STOP
                                : AfterLastNeeded.CONTINUE_WITHOUT_GRADIENT, scope);
                model.forward(Tensors.toNDArray(scope, latent), timestep, leaf.expandDims(0), added, recorder);
                NDArray cross = recorder.crossMaps();
                NDArray self = recorder.selfMaps();
                AttentionMaps maps = recorder.toMaps(cross, self);
                long forwardNanos = System.nanoTime() - forwardStarted;
                ObjectiveGradient gradient = objective.evaluate(maps);
                NDArray target = null;
                if (cross != null) {
                    target = weightedSum(cross, maps.cross(), gradient.crossGradient(), "cross");
                }
                if (self != null) {
                    NDArray selfTerm = weightedSum(self, maps.self(), gradient.selfGradient(), "self");
                    target = target == null ? selfTerm : target.add(selfTerm);
                }
                Tensor contextGradient;
                long backwardStarted = System.nanoTime();
                if (target != null && recorder.dependsOnContext()) {
                    collector.backward(target);
                    contextGradient = Tensors.toTensor(leaf.getGradient());
                } else {
                    // nothing the objective sees comes after a cross-attention layer: the maps ignore the context
                    contextGradient = Tensor.zeros(context.shape());
                }
                return new ProbeResult(gradient.loss(), contextGradient, maps, forwardNanos,
                        System.nanoTime() - backwardStarted);
            }
        }
    }

    /**
     * @param latent  {@code [1, inChannels, h, w]}; not modified
     * @param context {@code [keys, M]}; not modified
     * @throws IllegalArgumentException when the shapes do not fit or the objective's gradient does not have the
     *                                  shape of the noise prediction
     * @throws IllegalStateException    after the denoiser is closed
     */
    @Override
    public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, NoiseObjective objective) {
        return noiseGradient(latent, timestep, context, null, objective);
    }

    /** As the other overload, with a fixed pooled embedding {@code [1, P]} for an SDXL UNet. */
    @Override
    public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context, Tensor pooled,
                                          NoiseObjective objective) {
        if (objective == null) {
            throw new IllegalArgumentException("noiseGradient() needs an objective");
        }
        UNet2DConditionModel model = checkedModel(latent, context, null);
        TextTimeConditioning added = DjlDenoiser.textTime(latent, pooled);
        model.checkAdded(added, 1);
        synchronized (COLLECTOR_LOCK) {
            try (NDManager scope = model.newScope();
                 GradientCollector collector = TorchRuntime.engine().newGradientCollector()) {
                NDArray leaf = Tensors.toNDArray(scope, context);
                leaf.setRequiresGradient(true);
                long forwardStarted = System.nanoTime();
                NDArray noise = model.forward(Tensors.toNDArray(scope, latent), timestep, leaf.expandDims(0), added,
                        denoiser.recorder(null, latent, AfterLastNeeded.CONTINUE, scope));
                Tensor prediction = Tensors.toTensor(noise);
                long forwardNanos = System.nanoTime() - forwardStarted;
                NoiseObjective.NoiseGradient gradient = objective.evaluate(prediction);
                if (gradient.noiseGradient() == null
                        || !Arrays.equals(gradient.noiseGradient().shape(), prediction.shape())) {
                    throw new IllegalArgumentException("The objective's noise gradient has shape "
                            + (gradient.noiseGradient() == null ? "null"
                            : Arrays.toString(gradient.noiseGradient().shape())) + ", expected "
                            + Arrays.toString(prediction.shape()));
                }
                long backwardStarted = System.nanoTime();
                collector.backward(noise.mul(Tensors.toNDArray(scope, gradient.noiseGradient())).sum());
                Tensor contextGradient = Tensors.toTensor(leaf.getGradient());
                return new NoiseProbeResult(gradient.loss(), contextGradient, prediction, forwardNanos,
                        System.nanoTime() - backwardStarted);
            }
        }
    }

    /** The open model, after checking a single-sample latent and a context against it and the capture. */
    private UNet2DConditionModel checkedModel(Tensor latent, Tensor context, AttentionCapture capture) {
        if (latent.rank() != 4 || latent.dim(0) != 1 || context.rank() != 2) {
            throw new IllegalArgumentException("Expected latent [1, c, h, w] and context [keys, M], got "
                    + Arrays.toString(latent.shape()) + " and " + Arrays.toString(context.shape()));
        }
        denoiser.checkInputs(latent, context.reshape(1, context.dim(0), context.dim(1)), capture);
        denoiser.ensureOpen();
        return denoiser.model();
    }

    /** {@code sum(maps * upstream)}: its gradient with respect to the maps is {@code upstream}. */
    private static NDArray weightedSum(NDArray maps, Tensor copied, Tensor upstream, String kind) {
        if (upstream == null || !Arrays.equals(upstream.shape(), copied.shape())) {
            throw new IllegalArgumentException("The objective's " + kind + " gradient has shape "
                    + (upstream == null ? "null" : Arrays.toString(upstream.shape())) + ", expected "
                    + Arrays.toString(copied.shape()));
        }
        return maps.mul(Tensors.toNDArray(maps.getManager(), upstream)).sum();
    }

    @Override
    public String toString() {
        return "DjlGradientProbe[" + denoiser + "]";
    }
}
