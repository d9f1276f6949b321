package dev.suppress.djl;

import ai.djl.Device;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.image.Images;
import dev.suppress.core.internal.schedule.ClassifierFreeGuidance;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.internal.schedule.TorchGaussianNoise;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.clip.SdxlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The method on an SDXL-shaped model ({@link TinySdxlFolder}) through {@link Suppressor}: the two text encoders, the
 * pooled embedding and time ids per guidance half, zero unconditional embeddings, ITO with autograd, and both
 * inversions of a photo.
 *
 * <p>No reference implementation of the method exists for SDXL, so these check the pipeline against its own
 * invariants: the original branch is SDXL's guided DDIM loop written out here from the parts, the unconditional half
 * follows {@code force_zeros_for_empty_prompt}, and suppression changes only the suppressed branch.
 */
class DjlSdxlGenerationTest {

    private static final String PROMPT = "a man without glasses";
    private static final int STEPS = 10;
    private static final int SIZE = TinySdxlFolder.SAMPLE_SIZE * 8;

    @TempDir
    static Path dir;

    private static Path folder;
    private static Suppressor suppressor;

    @BeforeAll
    static void open() {
        folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("sdxl"));
        suppressor = Suppressor.builder().backend("djl").modelFolder(folder).build();
    }

    @AfterAll
    static void close() {
        if (suppressor != null) {
            suppressor.close();
        }
    }

    private static SuppressionRequest.Builder request() {
        return SuppressionRequest.builder(PROMPT).suppress("glasses").steps(STEPS).imageSize(SIZE).seed(7)
                .itoIterations(2);
    }

    @Test
    void theOriginalBranchIsSdxlsGuidedDdimLoopWithPooledEmbeddingsTimeIdsAndZeroUnconditional() {
        SuppressionResult result = suppressor.generate(request().build());

        int[] ids = ClipTokenizer.load(folder.resolve("tokenizer")).tokenize(PROMPT).inputIds();
        Tensor expected;
        try (DjlTextEncoder first = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu());
             DjlTextEncoder second = DjlTextEncoder.open(folder.resolve("text_encoder_2"), Device.cpu());
             DjlDenoiser unet = DjlDenoiser.open(folder.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON)) {
            SdxlTextEncoder encoder = SdxlTextEncoder.of(folder, first, second, true);
            Tensor embedding = encoder.encode(ids);
            assertEquals(TinySdxlFolder.TEXT_ENCODER_WIDTH + TinySdxlFolder.POOLED_WIDTH, embedding.dim(1));
            Tensor pooled = encoder.pooled(ids).orElseThrow();
            // force_zeros_for_empty_prompt and no negative prompt: zeros for both unconditional embeddings
            Tensor contexts = Tensor.stack(Tensor.zeros(embedding.shape()), embedding);
            Tensor pooledRows = Tensor.stack(Tensor.zeros(pooled.shape()), pooled);
            DdimScheduler scheduler = new DdimScheduler(SchedulerConfig.readFromModelFolder(folder), STEPS);
            Tensor latent = TorchGaussianNoise.randn(7, 1, 4, TinySdxlFolder.SAMPLE_SIZE, TinySdxlFolder.SAMPLE_SIZE);
            for (int timestep : scheduler.timesteps()) {
                // the denoiser adds SDXL's default time ids (original = target = 128 px, crop 0, 0)
                Tensor noise = unet.denoise(Tensor.concat(latent, latent), timestep, contexts, pooledRows, null)
                        .noisePrediction();
                latent = scheduler.step(ClassifierFreeGuidance.guide(noise, 1, 7.5), timestep, latent).prevSample();
            }
            expected = latent;
        }
        // the pipeline batches the branches differently (4 or 2 elements a pass): float32 rounding, chained over 10
        // steps, is the only difference (measured 2.6e-7 of the latent's largest value)
        assertTrue(TensorAssertions.relativeMaxDifference(result.originalLatent(), expected) < 1e-5,
                "relative max difference " + TensorAssertions.relativeMaxDifference(result.originalLatent(), expected));
    }

    @Test
    void suppressionRunsItoWithAutogradAtTheLevelNearestSixteenAndChangesOnlyTheSuppressedBranch() {
        SuppressionResult suppressed = suppressor.generate(request().build());
        SuppressionResult plain = suppressor.generate(request().itoIterations(0).alpha(0).build());
        // the tiny UNet's cross-attention levels at a 16x16 latent are 8x8 and 4x4 (its first level has none)
        assertEquals(8, suppressed.attentionResolution());
        assertEquals(2, suppressed.itoSteps().size(), "ITO at steps 2 and 3 of 10");
        for (SuppressionResult.ItoStep step : suppressed.itoSteps()) {
            for (double loss : step.losses()) {
                assertTrue(Double.isFinite(loss), "ITO loss " + loss);
            }
        }
        // measured 4.6e-7 (batch composition), against 2.4e-2 between the branches
        assertTrue(TensorAssertions.relativeMaxDifference(suppressed.originalLatent(), plain.originalLatent()) < 1e-5,
                "the original branch does not depend on suppression");
        assertTrue(TensorAssertions.relativeMaxDifference(suppressed.suppressedLatent(), suppressed.originalLatent()) > 1e-3,
                "suppression changed the suppressed branch");
        for (float value : suppressed.suppressedLatent().toArray()) {
            assertTrue(Float.isFinite(value));
        }
    }

    @Test
    void anEmptyNegativePromptIsEncodedWhileNoneGivesZeros() {
        SuppressionResult none = suppressor.generate(request().itoIterations(0).build());
        SuppressionResult empty = suppressor.generate(request().itoIterations(0).negativePrompt("").build());
        assertTrue(TensorAssertions.relativeMaxDifference(none.originalLatent(), empty.originalLatent()) > 1e-3,
                "zeros and the encoding of \"\" are different unconditional embeddings");
    }

    @Test
    void negativePromptInversionRegeneratesWithThePromptsPooledEmbeddingInBothGuidanceHalves() {
        ImageEditResult edit = suppressor.edit(ImageEditRequest.builder(photo(), PROMPT)
                .inversion(Inversion.NEGATIVE_PROMPT)
                .suppression(builder -> builder.suppress("glasses").steps(STEPS).imageSize(SIZE).itoIterations(1))
                .build());
        // with the prompt's per-token and pooled embeddings in both halves, guidance cancels: the original branch is
        // a conditional DDIM loop from the inverted latent
        int[] ids = ClipTokenizer.load(folder.resolve("tokenizer")).tokenize(PROMPT).inputIds();
        Tensor latent = edit.saved().inverted();
        try (DjlTextEncoder first = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu());
             DjlTextEncoder second = DjlTextEncoder.open(folder.resolve("text_encoder_2"), Device.cpu());
             DjlDenoiser unet = DjlDenoiser.open(folder.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON)) {
            SdxlTextEncoder encoder = SdxlTextEncoder.of(folder, first, second, true);
            Tensor context = encoder.encode(ids).asBatchOfOne();
            Tensor pooled = Tensor.stack(encoder.pooled(ids).orElseThrow());
            DdimScheduler scheduler = new DdimScheduler(SchedulerConfig.readFromModelFolder(folder), STEPS);
            for (int timestep : scheduler.timesteps()) {
                Tensor noise = unet.denoise(latent, timestep, context, pooled, null).noisePrediction();
                latent = scheduler.step(noise, timestep, latent).prevSample();
            }
        }
        double difference = TensorAssertions.relativeMaxDifference(edit.suppression().originalLatent(), latent);
        assertTrue(difference < 1e-5, "relative max difference " + difference);
        assertTrue(TensorAssertions.relativeMaxDifference(edit.suppression().suppressedLatent(), latent) > 1e-3,
                "suppression changed the suppressed branch");
    }

    @Test
    void nullTextInversionOptimisesTheUnconditionalEmbeddingWithItsPooledEmbeddingFixed() {
        ImageEditResult edit = suppressor.edit(ImageEditRequest.builder(photo(), PROMPT)
                .inversion(Inversion.NULL_TEXT).nullText(new NullTextOptions(3, 1e-5, 1e-2))
                .suppression(builder -> builder.suppress("glasses").steps(4).imageSize(SIZE).itoIterations(1))
                .build());
        assertEquals(4, edit.unconditionalEmbeddings().size());
        // the optimisation starts from zeros (force_zeros_for_empty_prompt) and moves them
        float[] first = edit.unconditionalEmbeddings().get(0).toArray();
        double norm = 0;
        for (float value : first) {
            assertTrue(Float.isFinite(value));
            norm += value * value;
        }
        assertTrue(norm > 0, "null-text inversion moved the zero unconditional embedding");
        for (float value : edit.suppression().suppressedLatent().toArray()) {
            assertTrue(Float.isFinite(value));
        }
    }

    private static java.awt.image.BufferedImage photo() {
        return Images.read(Fixtures.path("real/input.png"));
    }
}
