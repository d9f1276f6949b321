package dev.suppress.onnx;

import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.RecordingListener;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The SWR-only end-to-end run of the reference (e2e/gen_swr_only) on the ONNX export. */
class OrtSuppressionEndToEndTest {

    /** Embeddings: one ONNX text-encoder pass plus a float64 SVD vs torch's float32 one. */
    private static final Tolerance EMBEDDING = new Tolerance(1e-4, 5e-5,
            "ONNX Runtime vs torch float32 kernels, float64 vs float32 SVD");
    /**
     * Latents along 50 guided steps: float32 kernel differences of ~3e-6 at step 0 grow to 6.7e-5 (max abs, values
     * of order 1) by step 49; about 4x margin.
     */
    private static final Tolerance TRAJECTORY = new Tolerance(1e-4, 3e-4,
            "50 guided DDIM steps amplify float32 kernel differences between ONNX Runtime and torch");

    @Test
    void reproducesTheSwrOnlyRun() {
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_swr_only.safetensors");
             Suppressor suppressor = Suppressor.builder().backend("onnx")
                     .modelFolder(Fixtures.path("tiny-sd-onnx"))
                     .tokenizerFolder(Fixtures.tinyModel().resolve("tokenizer"))
                     .schedulerConfig(Fixtures.tinyModel().resolve("scheduler/scheduler_config.json"))
                     .build()) {
            RecordingListener recording = new RecordingListener();
            SuppressionResult result = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").initialLatent(golden.tensor("initial_latent")).itoIterations(0).mode(Mode.REFERENCE).build(),
                    recording);
            assertEquals(0, result.itoSteps().size());
            for (int step = 10; step <= 20; step++) {
                TensorAssertions.assertClose("erase_embedding_used_step" + step,
                        golden.tensor("erase_embedding_used_step" + step).reshape(77, 80),
                        recording.steps().get(step).erasedEmbedding(), EMBEDDING);
            }
            for (int step : new int[] {0, 10, 20, 49}) {
                Tensor expected = golden.tensor("latents_step" + step);
                TensorAssertions.assertClose("latents_step" + step + " original", expected.slice(0).reshape(1, 4, 32, 32),
                        recording.steps().get(step).originalLatent(), TRAJECTORY);
                TensorAssertions.assertClose("latents_step" + step + " suppressed",
                        expected.slice(1).reshape(1, 4, 32, 32), recording.steps().get(step).suppressedLatent(),
                        TRAJECTORY);
            }
            Tensor finalLatents = golden.tensor("final_latents");
            TensorAssertions.assertClose("final original", finalLatents.slice(0).reshape(1, 4, 32, 32),
                    result.originalLatent(), TRAJECTORY);
            TensorAssertions.assertClose("final suppressed", finalLatents.slice(1).reshape(1, 4, 32, 32),
                    result.suppressedLatent(), TRAJECTORY);
        }
    }
}
