package dev.suppress.onnx;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.internal.ito.FiniteDifferenceContextGradient;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.internal.ito.InferenceTimeOptimization;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ITO without autograd: finite differences over attention-only passes of the ONNX export, at the state of the
 * reference run's first ITO step (e2e/gen_ito step 10), lower the loss as the reference's autograd ITO does.
 */
class OrtFiniteDifferenceItoTest {

    /** The first loss is the reference's (0.7514689338...) up to ONNX Runtime's float32 kernels. */
    private static final double FIRST_LOSS = 1e-3;

    @Test
    void lowersTheAttentionLoss() {
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_ito.safetensors");
             OrtDiffusionBackend backend = OrtDiffusionBackend.open(BackendOptions.cpu(
                     Fixtures.path("tiny-sd-onnx")))) {
            int step = 10;
            float[] perStep = golden.floats("latents_per_step");
            int branch = 4 * 32 * 32;
            Tensor latent = Tensor.of(Arrays.copyOfRange(perStep, 2 * (step - 1) * branch,
                    (2 * (step - 1) + 1) * branch), 1, 4, 32, 32);
            int timestep = (int) golden.longs("timesteps")[step];
            Tensor embedding = golden.tensor("text_embeddings").reshape(77, 80);
            Tensor start = SoftWeightedRegularization.softWeight(1.0).apply(embedding, new int[] {4}, 6);
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            AttentionObjective objective = AttentionLoss.withReferenceSettings(6, 4).objective(backend.denoiser()
                    .denoise(latent, timestep, embedding.reshape(1, 77, 80), capture).attention());
            double stepSize = 20 * Math.sqrt(1 + step * (-0.9 / 49));
            double[] losses = new InferenceTimeOptimization(new FiniteDifferenceContextGradient(backend.denoiser(),
                    FiniteDifferenceOptions.DEFAULT, 6, new int[] {4}, 17))
                    .optimise(latent, timestep, start, capture, objective, 5, stepSize, (i, loss, evaluated, e) -> true)
                    .losses();
            assertEquals(0.7514689338328963, losses[0], FIRST_LOSS);
            for (int i = 1; i < losses.length; i++) {
                assertTrue(losses[i] < losses[i - 1], "the loss must fall at every iteration: "
                        + Arrays.toString(losses));
            }
            assertTrue(losses[0] - losses[4] > 0.05, "the loss fell too little: " + Arrays.toString(losses));
        }
    }
}
