package dev.suppress.djl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.image.Images;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.WorkAssertions;
import dev.suppress.core.testing.RecordingListener;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The reference's generated-image runs (e2e/gen_ito and e2e/gen_swr_only) reproduced end to end on DJL: the SWR
 * embedding, every ITO iterate and loss, both branches' latents at every step, the final latents and images.
 */
class DjlSuppressionEndToEndTest {

    /** Embeddings before any optimisation: one CLIP pass (~2e-6) and a float64 vs float32 SVD (~1.3e-5). */
    private static final Tolerance EMBEDDING = new Tolerance(1e-4, 5e-5,
            "float32 CLIP kernels and a float64 SVD against torch's float32 one");
    /**
     * ITO iterates: gradient descent with step 20·√r amplifies the ~1e-5 differences of the maps; measured at most
     * 1.4e-3 over the 100 iterates (embedding entries reach about 30).
     */
    private static final Tolerance ITO_EMBEDDING = new Tolerance(1e-3, 5e-3,
            "100 gradient steps amplify float32 differences of the attention maps and their gradients");
    /** Loss values: measured within 1.7e-4 of the reference's float64 values along the optimisation. */
    private static final double ITO_LOSS = 1e-3;
    /**
     * Latents: 3.6e-6 after step 0, 3.2e-4 after step 49 (values of order 1) with ITO in the trajectory; about 3x
     * margin.
     */
    private static final Tolerance TRAJECTORY = new Tolerance(1e-3, 1e-3,
            "50 guided DDIM steps with ITO amplify float32 kernel differences between libtorch builds");
    /** Decoded images from those latents, in [-1, 1]. */
    private static final Tolerance IMAGE = new Tolerance(1e-3, 3e-3,
            "the VAE decoder magnifies the final latents' 3e-4 differences");

    private static Suppressor suppressor;

    @BeforeAll
    static void load() {
        suppressor = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel()).build();
    }

    @AfterAll
    static void close() {
        suppressor.close();
    }

    @Test
    void reproducesTheReferenceRunWithIto() throws IOException {
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_ito.safetensors")) {
            RecordingListener recording = new RecordingListener();
            SuppressionResult result = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").initialLatent(golden.tensor("initial_latent")).mode(Mode.REFERENCE).build(), recording);

            Tensor embedding = golden.tensor("text_embeddings").reshape(77, 80);
            TensorAssertions.assertClose("text_embeddings", embedding, recording.steps().get(0).erasedEmbedding(),
                    EMBEDDING);
            // steps >= 20 use SWR(c) alone, the same embedding the ITO of step 10 started from
            TensorAssertions.assertClose("swr_embedding_step10", golden.tensor("swr_embedding_step10").reshape(77, 80),
                    recording.steps().get(20).erasedEmbedding(), EMBEDDING);

            double[] referenceLosses = referenceLosses();
            float[] itoEmbeddings = golden.floats("ito_embeddings");
            List<ProgressListener.ItoIteration> iterations = recording.iterations();
            assertEquals(100, iterations.size());
            for (int k = 0; k < 100; k++) {
                ProgressListener.ItoIteration iteration = iterations.get(k);
                assertEquals(10 + k / 10, iteration.stepIndex());
                assertEquals(referenceLosses[k], iteration.loss(), ITO_LOSS, "ITO loss " + k);
                TensorAssertions.assertClose("ito_embeddings[" + (k / 10) + "][" + (k % 10) + "]",
                        Arrays.copyOfRange(itoEmbeddings, k * 77 * 80, (k + 1) * 77 * 80),
                        iteration.embedding().toArray(), ITO_EMBEDDING);
            }
            for (int step = 10; step < 20; step++) {
                TensorAssertions.assertClose("erase_embedding_used_step" + step,
                        golden.tensor("erase_embedding_used_step" + step).reshape(77, 80),
                        recording.steps().get(step).erasedEmbedding(), ITO_EMBEDDING);
            }

            float[] perStep = golden.floats("latents_per_step");
            int branch = 4 * 32 * 32;
            for (int step = 0; step < 50; step++) {
                ProgressListener.DenoisingStep recorded = recording.steps().get(step);
                TensorAssertions.assertClose("latents_per_step[" + step + "][original]",
                        Arrays.copyOfRange(perStep, 2 * step * branch, (2 * step + 1) * branch),
                        recorded.originalLatent().toArray(), TRAJECTORY);
                TensorAssertions.assertClose("latents_per_step[" + step + "][suppressed]",
                        Arrays.copyOfRange(perStep, (2 * step + 1) * branch, (2 * step + 2) * branch),
                        recorded.suppressedLatent().toArray(), TRAJECTORY);
            }
            Tensor finalLatents = golden.tensor("final_latents");
            TensorAssertions.assertClose("final_latents[original]", finalLatents.slice(0).reshape(1, 4, 32, 32),
                    result.originalLatent(), TRAJECTORY);
            TensorAssertions.assertClose("final_latents[suppressed]", finalLatents.slice(1).reshape(1, 4, 32, 32),
                    result.suppressedLatent(), TRAJECTORY);
            Tensor decoded = golden.tensor("decoded_float");
            TensorAssertions.assertClose("decoded_float[original]", decoded.slice(0), result.originalImage(), IMAGE);
            TensorAssertions.assertClose("decoded_float[suppressed]", decoded.slice(1), result.suppressedImage(), IMAGE);
            assertImagesMatch("gen_ito_orig.png", result.original());
            assertImagesMatch("gen_ito_suppressed.png", result.suppressed());

            // 50 steps x (2 branches x 2 passes) + 10 reference passes; 10 x 10 ITO probes
            WorkAssertions.assertPasses(210, 0, 100, result.work());
            assertEquals(10, result.itoSteps().size());
        }
    }

    @Test
    void reproducesTheSwrOnlyRun() {
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_swr_only.safetensors")) {
            RecordingListener recording = new RecordingListener();
            SuppressionResult result = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").initialLatent(golden.tensor("initial_latent")).itoIterations(0).mode(Mode.REFERENCE).build(),
                    recording);
            for (int step = 10; step <= 20; step++) {
                TensorAssertions.assertClose("erase_embedding_used_step" + step,
                        golden.tensor("erase_embedding_used_step" + step).reshape(77, 80),
                        recording.steps().get(step).erasedEmbedding(), EMBEDDING);
            }
            for (int step : new int[] {0, 10, 20, 49}) {
                Tensor expected = golden.tensor("latents_step" + step);
                TensorAssertions.assertClose("latents_step" + step + "[original]",
                        expected.slice(0).reshape(1, 4, 32, 32), recording.steps().get(step).originalLatent(),
                        TRAJECTORY);
                TensorAssertions.assertClose("latents_step" + step + "[suppressed]",
                        expected.slice(1).reshape(1, 4, 32, 32), recording.steps().get(step).suppressedLatent(),
                        TRAJECTORY);
            }
            Tensor finalLatents = golden.tensor("final_latents");
            TensorAssertions.assertClose("final_latents[suppressed]", finalLatents.slice(1).reshape(1, 4, 32, 32),
                    result.suppressedLatent(), TRAJECTORY);
            WorkAssertions.assertPasses(200, 0, 0, result.work());
            assertImagesMatch("gen_swr_only_orig.png", result.original());
            assertImagesMatch("gen_swr_only_suppressed.png", result.suppressed());
        }
    }

    @Test
    void drawsTheReferenceInitialLatentFromTheSeed() {
        // main_gen seeds torch.Generator().manual_seed(2023); the pipeline reproduces torch.randn bit for bit
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_swr_only.safetensors")) {
            SuppressionResult seeded = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").seed(2023).steps(1).itoIterations(0).build());
            SuppressionResult given = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").initialLatent(golden.tensor("initial_latent")).steps(1).itoIterations(0)
                    .build());
            assertEquals(given.originalLatent(), seeded.originalLatent());
        }
    }

    /**
     * The 8-bit images: the reference truncates {@code (x/2+0.5)*255}, so a decoded value within 3e-3 of the
     * reference's can land one level lower or higher; no pixel may differ by more than one level.
     */
    private static void assertImagesMatch(String fixture, BufferedImage actual) {
        BufferedImage expected = Images.read(Fixtures.path("e2e/" + fixture));
        assertEquals(expected.getWidth(), actual.getWidth());
        int differing = 0;
        for (int y = 0; y < expected.getHeight(); y++) {
            for (int x = 0; x < expected.getWidth(); x++) {
                int a = actual.getRGB(x, y);
                int e = expected.getRGB(x, y);
                for (int shift = 0; shift <= 16; shift += 8) {
                    int diff = Math.abs(((a >> shift) & 0xFF) - ((e >> shift) & 0xFF));
                    assertTrue(diff <= 1, fixture + " pixel (" + x + ", " + y + ") differs by " + diff + " levels");
                    differing += diff;
                }
            }
        }
        assertTrue(differing < expected.getWidth() * expected.getHeight() * 3 / 100,
                fixture + ": " + differing + " channel values off by one level");
    }

    private static double[] referenceLosses() throws IOException {
        JsonNode losses = new ObjectMapper().readTree(Fixtures.path("manifest.json").toFile()).path("files")
                .path("e2e/gen_ito.safetensors").path("scalars").path("all_losses");
        double[] out = new double[losses.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = losses.get(i).asDouble();
        }
        return out;
    }
}
