package dev.suppress.core;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.internal.ito.ContextGradient;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;

import java.util.HashMap;
import java.util.Map;

/**
 * Watches one generation for NaN and infinity, and stops it at the first one with the step, the branch and the
 * component named (a {@link NonFiniteValueException}).
 *
 * <p>The pipeline calls it at a few seams, one line each: {@link #embedding} after text encoding, {@link #watch}
 * around the denoiser and the ITO gradient, {@link #afterStep} after each denoising step and {@link #decoded} after
 * the VAE. A non-finite UNet output is recorded when it appears (with the timestep and the batch element, whose role
 * the batch layout tells) and reported by the step check, which knows which branch's latent it reached; a
 * non-finite ITO loss or gradient is reported at once, as ITO optimises the suppressed branch's embedding. The
 * checks read each tensor once (a few microseconds for a 64×64 latent, noise next to a UNet call).
 *
 * <p>Not thread-safe: one instance per run.
 */
final class NumericalHealth {

    private final Precision precision;
    private final Map<Integer, Integer> stepOfTimestep = new HashMap<>();
    /** The first non-finite UNet output not yet reported, or null. */
    private String pendingUNetProblem;
    private int pendingTimestep;

    /**
     * @param precision the type the backend's networks compute in (named in messages when it is fp16 or bf16)
     * @param scheduler the run's DDIM configuration, to name the step of a timestep
     * @param steps     the run's step count S
     */
    NumericalHealth(Precision precision, SchedulerConfig scheduler, int steps) {
        this.precision = precision;
        int[] timesteps = new DdimScheduler(scheduler, steps).timesteps();
        for (int stepIndex = 0; stepIndex < timesteps.length; stepIndex++) {
            stepOfTimestep.putIfAbsent(timesteps[stepIndex], stepIndex);
        }
    }

    /**
     * Checks a text embedding {@code [77, M]} (or a batch of them).
     *
     * @param which what was encoded, e.g. {@code prompt} or {@code negative prompt}
     */
    void embedding(String which, Tensor embedding) {
        int bad = firstNonFinite(embedding);
        if (bad >= 0) {
            throw failure(NonFiniteValueException.NO_STEP, "none", "text encoder",
                    "The text encoder's embedding of the " + which + " has " + describe(embedding, bad)
                            + " before the first denoising step");
        }
    }

    /** Checks both branches' latents after denoising step {@code stepIndex}, and reports a recorded UNet problem. */
    void afterStep(int stepIndex, Tensor original, Tensor suppressed) {
        int badOriginal = firstNonFinite(original);
        int badSuppressed = original == suppressed ? badOriginal : firstNonFinite(suppressed);
        if (badOriginal < 0 && badSuppressed < 0 && pendingUNetProblem == null) {
            return;
        }
        String branch = badOriginal >= 0 && badSuppressed >= 0 ? "both" : badOriginal >= 0 ? "original"
                : badSuppressed >= 0 ? "suppressed" : "none";
        String component = pendingUNetProblem != null ? "UNet" : "DDIM step (guidance and scheduler)";
        StringBuilder message = new StringBuilder();
        if (badOriginal >= 0 || badSuppressed >= 0) {
            message.append("The latent of the ").append(branch.equals("both") ? "original and suppressed branches"
                    : branch + " branch").append(" has ").append(badOriginal >= 0 ? describe(original, badOriginal)
                    : describe(suppressed, badSuppressed)).append(" after denoising step ").append(stepIndex);
            message.append(pendingUNetProblem != null ? "; it came from the UNet: " + pendingUNetProblem
                    : "; the UNet's outputs were finite, so the guidance (scale too large?) or the DDIM step overflowed");
        } else {
            message.append("The UNet produced ").append(pendingUNetProblem).append(" at denoising step ")
                    .append(stepIndex);
        }
        pendingUNetProblem = null;
        throw failure(stepIndex, branch, component, message.toString());
    }

    /** Checks the decoded images {@code [batch, 3, H, W]}. */
    void decoded(Tensor images) {
        int bad = firstNonFinite(images);
        if (bad >= 0) {
            throw failure(NonFiniteValueException.NO_STEP, "none", "VAE decoder", "The VAE decoder's image has "
                    + describe(images, bad) + " although the final latents were finite");
        }
    }

    /** The denoiser, its inputs and outputs checked on every call. */
    DenoiserWithAttention watch(DenoiserWithAttention denoiser) {
        return new WatchedDenoiser(denoiser);
    }

    /** The ITO gradient, its loss and gradient checked on every evaluation. */
    ContextGradient watch(ContextGradient gradient) {
        return (latent, timestep, context, capture, objective) -> {
            int badContext = firstNonFinite(context);
            if (badContext >= 0) {
                throw failure(stepOf(timestep), "suppressed", "ITO update",
                        "The embedding ITO optimises has " + describe(context, badContext) + " at denoising step "
                                + stepOf(timestep) + " (timestep " + timestep + "): the previous ITO update "
                                + "overflowed (step scale too large?)");
            }
            ProbeResult result = gradient.evaluate(latent, timestep, context, capture, objective);
            if (!Double.isFinite(result.loss())) {
                throw failure(stepOf(timestep), "suppressed", "ITO loss", "The ITO loss is " + result.loss()
                        + " at denoising step " + stepOf(timestep) + " (timestep " + timestep + ")"
                        + recordedAt(timestep));
            }
            int bad = firstNonFinite(result.contextGradient());
            if (bad >= 0) {
                throw failure(stepOf(timestep), "suppressed", "ITO gradient", "The ITO gradient dL/dcontext has "
                        + describe(result.contextGradient(), bad) + " at denoising step " + stepOf(timestep)
                        + " (timestep " + timestep + ", loss " + result.loss() + ")" + recordedAt(timestep));
            }
            return result;
        };
    }

    private String recordedAt(int timestep) {
        return pendingUNetProblem == null || pendingTimestep != timestep ? ""
                : "; the UNet produced " + pendingUNetProblem;
    }

    private void record(int timestep, String problem) {
        if (pendingUNetProblem == null) {
            pendingUNetProblem = problem;
            pendingTimestep = timestep;
        }
    }

    private int stepOf(int timestep) {
        return stepOfTimestep.getOrDefault(timestep, NonFiniteValueException.NO_STEP);
    }

    private NonFiniteValueException failure(int stepIndex, String branch, String component, String message) {
        String full = message + (precision == Precision.FP16 || precision == Precision.BF16
                ? ". The networks compute in " + precision.label() + ", whose range is far narrower than float32's ("
                + (precision == Precision.FP16 ? "fp16 overflows above 65504" : "bf16 keeps only 8 bits of mantissa")
                + "): try precision fp32" : "");
        return new NonFiniteValueException(full, stepIndex, branch, component);
    }

    /** The role of batch element {@code element} of {@code batch} in the pipeline's batch layouts. */
    private static String role(int element, int batch) {
        return switch (batch) {
            case 4 -> new String[]{"unconditional pass of the original branch",
                    "unconditional pass of the suppressed branch", "conditional pass of the original branch",
                    "conditional pass of the suppressed branch"}[element];
            case 2 -> element == 0 ? "unconditional pass" : "conditional pass";
            case 1 -> "single pass (ITO)";
            default -> "batch element " + element + " of " + batch;
        };
    }

    /** The flat index of the first NaN or infinity, or -1. */
    static int firstNonFinite(Tensor tensor) {
        if (tensor == null) {
            return -1;
        }
        int size = tensor.size();
        for (int i = 0; i < size; i++) {
            if (!Float.isFinite(tensor.get(i))) {
                return i;
            }
        }
        return -1;
    }

    private static String describe(Tensor tensor, int flatIndex) {
        int[] shape = tensor.shape();
        int[] index = new int[shape.length];
        int rest = flatIndex;
        for (int axis = shape.length - 1; axis >= 0; axis--) {
            index[axis] = shape[axis] == 0 ? 0 : rest % shape[axis];
            rest = shape[axis] == 0 ? 0 : rest / shape[axis];
        }
        return tensor.get(flatIndex) + " at index " + java.util.Arrays.toString(index) + " of "
                + java.util.Arrays.toString(shape);
    }

    private static int batchElement(Tensor tensor, int flatIndex) {
        return tensor.rank() == 0 || tensor.dim(0) == 0 ? 0 : flatIndex / (tensor.size() / tensor.dim(0));
    }

    private final class WatchedDenoiser implements DenoiserWithAttention {
        private final DenoiserWithAttention inner;

        WatchedDenoiser(DenoiserWithAttention inner) {
            this.inner = inner;
        }

        @Override
        public UNetDescription description() {
            return inner.description();
        }

        @Override
        public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
            return denoise(latents, timestep, contexts, null, capture);
        }

        @Override
        public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                      AttentionCapture capture) {
            checkInputs(latents, timestep, contexts);
            DenoiserOutput output = inner.denoise(latents, timestep, contexts, pooled, capture);
            int bad = firstNonFinite(output.noisePrediction());
            if (bad >= 0) {
                int batch = latents.dim(0);
                record(timestep, "a noise prediction with " + describe(output.noisePrediction(), bad) + " in the "
                        + role(batchElement(output.noisePrediction(), bad), batch) + " (timestep " + timestep + ")");
            }
            checkMaps(output.attention(), timestep, latents.dim(0));
            return output;
        }

        @Override
        public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
            return attention(latents, timestep, contexts, null, capture);
        }

        @Override
        public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                       AttentionCapture capture) {
            checkInputs(latents, timestep, contexts);
            AttentionMaps maps = inner.attention(latents, timestep, contexts, pooled, capture);
            checkMaps(maps, timestep, latents.dim(0));
            return maps;
        }

        private void checkInputs(Tensor latents, int timestep, Tensor contexts) {
            int bad = firstNonFinite(contexts);
            if (bad >= 0) {
                int step = stepOf(timestep);
                String role = role(batchElement(contexts, bad), contexts.dim(0));
                throw failure(step, role.contains("suppressed") || role.contains("ITO") ? "suppressed" : "none",
                        "text embedding", "The text embedding fed to the UNet for the " + role + " has "
                                + describe(contexts, bad) + " at denoising step " + step + " (timestep " + timestep
                                + ")");
            }
        }

        private void checkMaps(AttentionMaps maps, int timestep, int batch) {
            if (maps == null) {
                return;
            }
            for (Tensor part : new Tensor[]{maps.cross(), maps.self()}) {
                int bad = firstNonFinite(part);
                if (bad >= 0) {
                    record(timestep, "attention maps with " + describe(part, bad) + " in the "
                            + role(batchElement(part, bad), batch) + " (timestep " + timestep + ")");
                    return;
                }
            }
        }

        @Override
        public double attentionPassFraction(AttentionCapture capture, int latentSide) {
            return inner.attentionPassFraction(capture, latentSide);
        }

        @Override
        public double attentionPassFraction(AttentionCapture capture, int latentHeight, int latentWidth) {
            return inner.attentionPassFraction(capture, latentHeight, latentWidth);
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
