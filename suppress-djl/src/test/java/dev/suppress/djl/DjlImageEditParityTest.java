package dev.suppress.djl;

import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.image.Images;
import dev.suppress.core.internal.inversion.ImageInversion;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.PipelineAccess;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.WorkAssertions;
import dev.suppress.core.testing.RecordingListener;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import dev.suppress.core.text.ClipTokenizer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/**
 * Real-photo suppression (ALGORITHM.md §6) against the reference's runs real/real_NT and real/real_NPI.
 *
 * <p>On the tiny random model these trajectories are chaotic: the reference's own reconstruction misses the photo's
 * latent by 9-11 (max abs), and a 1e-6 difference at z_T grows by about 20x every ten steps. So each piece is
 * checked teacher-forced, from the reference's own state: every DDIM inversion step, the null-text optimisation of
 * the first steps, and the suppression run in three stretches (step 0 from z_T, steps 11-20 from the reference's
 * latents after step 10 — all ITO steps but the first, which starts from latents the fixture does not store — and
 * steps 21-49 from its latents after step 20). The free-running inversion is compared over all 50 steps, where it is
 * still stable.
 */
class DjlImageEditParityTest {

    private static final String PROMPT = "a red house with a tree under the sun";
    private static final int LATENT = 4 * 32 * 32;
    private static final int EMBEDDING = 77 * 80;

    /** One VAE encoder pass or one inversion step in float32: measured at most 7.9e-7. */
    private static final Tolerance SINGLE_PASS = new Tolerance(1e-4, 1e-5, "one float32 UNet or VAE pass");
    /** The inversion chained over 50 steps from our own encoding: measured 8.3e-4 at z_T. */
    private static final Tolerance INVERSION_CHAIN = new Tolerance(1e-3, 3e-3,
            "50 chained inversion steps amplify single-pass float32 differences");
    /**
     * Steps 11-20 from the reference's latents: the original branch is within 3.1e-5, the suppressed one within
     * 4.5e-3 after nine ITO steps of ten updates each (scale 5), which amplify the maps' float32 differences.
     */
    private static final Tolerance ITO_STRETCH = new Tolerance(1e-3, 1e-2,
            "ninety ITO gradient steps amplify float32 differences of the maps");
    /** Steps 21-49 (SWR only) from the reference's latents: measured at most 5e-5. */
    private static final Tolerance SWR_STRETCH = new Tolerance(1e-4, 5e-4,
            "29 guided DDIM steps from the same state amplify float32 kernel differences");
    /** ITO loss values along the teacher-forced stretch: measured within 2e-3 of values up to 11. */
    private static final Tolerance ITO_LOSSES = new Tolerance(1e-3, 5e-3, "as ITO_STRETCH");
    /** ITO's last iterate per step, from the teacher-forced stretch (entries up to about 30): measured 1.4e-2. */
    private static final Tolerance ITO_EMBEDDINGS = new Tolerance(1e-3, 3e-2, "as ITO_STRETCH");
    /**
     * Null-text embeddings, each step started from the reference's previous one: Adam scales every element's step
     * to about the learning rate (0.01), so float32 differences in tiny gradient components move some elements by a
     * fraction of it: measured 6.9e-5 at step 0 growing to 2.6e-3 at step 3.
     */
    private static final Tolerance NULL_TEXT = new Tolerance(1e-3, 5e-3,
            "Adam normalises tiny, noisy gradient components to steps of about the learning rate");
    /** Null-text reconstruction losses (MSE, about 1e-2): measured within 2e-6 relative. */
    private static final double NULL_TEXT_LOSS = 1e-4;

    private static DjlDiffusionBackend backend;
    private static ClipTokenizer tokenizer;
    private static SchedulerConfig config;
    private static DdimScheduler scheduler;
    private static PipelineAccess pipeline;
    private static Tensor condition;

    @BeforeAll
    static void load() {
        backend = DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel()));
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
        config = SchedulerConfig.read(Fixtures.tinyModel().resolve("scheduler/scheduler_config.json"));
        scheduler = new DdimScheduler(config, 50);
        pipeline = new PipelineAccess(backend, tokenizer, config, FiniteDifferenceOptions.DEFAULT);
        condition = backend.textEncoder().encode(tokenizer.tokenize(PROMPT).inputIds());
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    private static BufferedImage photo() {
        return Images.read(Fixtures.path("real/input.png"));
    }

    private static Tensor at(float[] all, int index, int size, int... shape) {
        return Tensor.of(Arrays.copyOfRange(all, index * size, (index + 1) * size), shape);
    }

    @Test
    void encodesAndInvertsThePhoto() {
        try (SafetensorsFile golden = Fixtures.open("real/real_NPI.safetensors")) {
            float[] inversion = golden.floats("ddim_inversion_latents");
            Tensor encoded = backend.encoder().orElseThrow().encode(Images.toTensor(photo()));
            TensorAssertions.assertClose("ddim_inversion_latents[0] (encoded photo)", at(inversion, 0, LATENT,
                    1, 4, 32, 32), encoded, SINGLE_PASS);
            for (int k = 0; k < 50; k++) {
                int timestep = scheduler.timesteps()[49 - k];
                Tensor latent = at(inversion, k, LATENT, 1, 4, 32, 32);
                Tensor noise = backend.denoiser().denoise(latent, timestep, condition.reshape(1, 77, 80), null)
                        .noisePrediction();
                TensorAssertions.assertClose("inversion step " + k + " from the reference's latent",
                        at(inversion, k + 1, LATENT, 1, 4, 32, 32), scheduler.inverseStep(noise, timestep, latent),
                        SINGLE_PASS);
            }
            List<Tensor> chain = new ImageInversion(backend.denoiser(), scheduler, 7.5).ddimInversion(encoded,
                    condition);
            assertEquals(51, chain.size());
            for (int k = 0; k <= 50; k += 10) {
                TensorAssertions.assertClose("ddim_inversion_latents[" + k + "]", at(inversion, k, LATENT,
                        1, 4, 32, 32), chain.get(k), INVERSION_CHAIN);
            }
            TensorAssertions.assertClose("x_t", golden.tensor("x_t"), chain.get(50), INVERSION_CHAIN);
        }
    }

    @Test
    void optimisesTheNullTextEmbeddingOfEachStep() {
        try (SafetensorsFile golden = Fixtures.open("real/real_NT.safetensors")) {
            float[] inversion = golden.floats("ddim_inversion_latents");
            float[] embeddings = golden.floats("null_text_embeddings");
            double[] losses = referenceNullTextLosses();
            ImageInversion nullText = new ImageInversion(backend.denoiser(), scheduler, 7.5);
            Tensor current = golden.tensor("x_t");
            Tensor start = backend.textEncoder().encode(tokenizer.tokenize("").inputIds());
            for (int i = 0; i < 4; i++) {
                ImageInversion.NullTextStep step = nullText.optimiseStep(i, current,
                        at(inversion, 49 - i, LATENT, 1, 4, 32, 32), condition, start,
                        backend.gradientProbe().orElseThrow(), NullTextOptions.REFERENCE);
                Tensor expected = at(embeddings, i, EMBEDDING, 77, 80);
                TensorAssertions.assertClose("null_text_embeddings[" + i + "]", expected, step.embedding(), NULL_TEXT);
                double[] actual = step.losses();
                assertEquals(10, actual.length, "the reference never stopped early on this model");
                for (int j = 0; j < 10; j++) {
                    assertEquals(losses[i * 10 + j], actual[j], NULL_TEXT_LOSS * losses[i * 10 + j],
                            "null-text loss of step " + i + ", inner step " + j);
                }
                start = expected;
                current = nullText.guidedStep(current, scheduler.timestep(i), expected, condition);
            }
        }
    }

    @Test
    void suppressesAfterNegativePromptInversion() {
        List<Tensor> unconditional = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            unconditional.add(condition);
        }
        checkSuppressionStretches("real/real_NPI.safetensors", unconditional);
    }

    @Test
    void suppressesAfterNullTextInversion() {
        try (SafetensorsFile golden = Fixtures.open("real/real_NT.safetensors")) {
            float[] embeddings = golden.floats("null_text_embeddings");
            List<Tensor> unconditional = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                unconditional.add(at(embeddings, i, EMBEDDING, 77, 80));
            }
            checkSuppressionStretches("real/real_NT.safetensors", unconditional);
        }
    }

    private static void checkSuppressionStretches(String fixture, List<Tensor> unconditional) {
        SuppressionRequest request = ImageEditRequest.builder(photo(), PROMPT).suppress("tree")
                .suppression(options -> options.mode(Mode.REFERENCE)).build().suppression();
        try (SafetensorsFile golden = Fixtures.open(fixture)) {
            Tensor start = golden.tensor("x_t");
            PipelineAccess.Stretch first = pipeline.denoise(request,
                    new PipelineAccess.Latents(start, start), 0, 1, unconditional, ProgressListener.NONE);
            compare(fixture + " latents_step0", golden.tensor("latents_step0"), first.latents(), SINGLE_PASS);

            RecordingListener recording = new RecordingListener();
            PipelineAccess.Stretch optimised = pipeline.denoise(request, branches(golden.tensor("latents_step10")),
                    11, 21, unconditional, recording);
            compare(fixture + " latents_step20", golden.tensor("latents_step20"), optimised.latents(), ITO_STRETCH);
            float[] losses = golden.floats("ito_losses");
            float[] lastIterates = golden.floats("ito_embeddings_last_iter_per_step");
            assertEquals(90, recording.iterations().size());
            for (ProgressListener.ItoIteration iteration : recording.iterations()) {
                int index = (iteration.stepIndex() - 10) * 10 + iteration.iteration();
                TensorAssertions.assertClose(fixture + " ito_losses[" + index + "]", new double[] {losses[index]},
                        new double[] {iteration.loss()}, ITO_LOSSES);
                if (iteration.iteration() == 9) {
                    TensorAssertions.assertClose(fixture + " ito_embeddings_last_iter_per_step["
                            + (iteration.stepIndex() - 10) + "]", at(lastIterates, iteration.stepIndex() - 10,
                            EMBEDDING, 77, 80), iteration.embedding(), ITO_EMBEDDINGS);
                }
            }

            PipelineAccess.Stretch rest = pipeline.denoise(request, branches(golden.tensor("latents_step20")), 21,
                    50, unconditional, ProgressListener.NONE);
            compare(fixture + " latents_step49", golden.tensor("latents_step49"), rest.latents(), SWR_STRETCH);
            compare(fixture + " final_latents", golden.tensor("final_latents"), rest.latents(), SWR_STRETCH);
        }
    }

    @Test
    void editsThePhotoEndToEndWithNegativePromptInversion() {
        try (SafetensorsFile golden = Fixtures.open("real/real_NPI.safetensors")) {
            RecordingListener recording = new RecordingListener();
            ImageEditResult result = new PipelineAccess(backend, tokenizer, config, FiniteDifferenceOptions.DEFAULT)
                    .edit(ImageEditRequest.builder(photo(), PROMPT).suppress("tree").inversion(
                            Inversion.NEGATIVE_PROMPT).suppression(options -> options.mode(Mode.REFERENCE)).build(),
                            recording);
            assertEquals(50, result.unconditionalEmbeddings().size());
            for (Tensor unconditional : result.unconditionalEmbeddings()) {
                assertEquals(condition, unconditional, "negative-prompt inversion uses the prompt's embedding");
            }
            TensorAssertions.assertClose("x_t", golden.tensor("x_t"), result.inversionLatents().get(50),
                    INVERSION_CHAIN);
            assertEquals(50, recording.inversion().size());
            assertPixelsWithinOneLevel(Images.read(Fixtures.path("real/real_NPI_vae_reconstruction.png")),
                    Images.toImage(result.vaeReconstruction()));
            // 50 inversion passes; 50 steps x 4 + 10 ITO reference passes; 100 ITO probes
            WorkAssertions.assertPasses(260, 0, 100, result.suppression().work());
            assertEquals(List.of(6), result.suppression().suppressedTokens());
        }
    }

    @Test
    void nullTextEditCountsItsWork() {
        NullTextOptions twoInnerSteps = new NullTextOptions(2, 0, 1e-2);
        ImageEditResult result = new PipelineAccess(backend, tokenizer, config, FiniteDifferenceOptions.DEFAULT)
                .edit(ImageEditRequest.builder(photo(), PROMPT).suppress("tree").nullText(twoInnerSteps)
                        .suppression(options -> options.steps(4).itoIterations(1).mode(Mode.REFERENCE)).build(),
                        ProgressListener.NONE);
        assertSame(Inversion.NULL_TEXT, result.inversion());
        assertEquals(4, result.unconditionalEmbeddings().size());
        // inversion 4; null text 4 x (1 conditional + 2 guided); suppression 4 x 4 + 1 ITO reference pass;
        // probes: null text 4 x 2, ITO 1 x 1 (the window [0.2, 0.4) of 4 steps is step 1 alone)
        WorkAssertions.assertPasses(4 + 12 + 16 + 1, 0, 8 + 1, result.suppression().work());
    }

    /** 8-bit images of values within 1e-5: truncation may land one level apart. */
    private static void assertPixelsWithinOneLevel(BufferedImage expected, BufferedImage actual) {
        for (int y = 0; y < expected.getHeight(); y++) {
            for (int x = 0; x < expected.getWidth(); x++) {
                for (int shift = 0; shift <= 16; shift += 8) {
                    int diff = Math.abs(((expected.getRGB(x, y) >> shift) & 0xFF) - ((actual.getRGB(x, y) >> shift)
                            & 0xFF));
                    assertEquals(0, diff, 1, "pixel (" + x + ", " + y + ")");
                }
            }
        }
    }

    private static PipelineAccess.Latents branches(Tensor pair) {
        return new PipelineAccess.Latents(pair.slice(0).reshape(1, 4, 32, 32),
                pair.slice(1).reshape(1, 4, 32, 32));
    }

    private static void compare(String name, Tensor expected, PipelineAccess.Latents actual,
                                Tolerance tolerance) {
        TensorAssertions.assertClose(name + "[original]", expected.slice(0).reshape(1, 4, 32, 32), actual.original(),
                tolerance);
        TensorAssertions.assertClose(name + "[suppressed]", expected.slice(1).reshape(1, 4, 32, 32),
                actual.suppressed(), tolerance);
    }

    private static double[] referenceNullTextLosses() {
        try {
            com.fasterxml.jackson.databind.JsonNode node = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(Fixtures.path("manifest.json").toFile()).path("files").path("real/real_NT.safetensors")
                    .path("scalars").path("nt_mse_losses");
            double[] out = new double[node.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = node.get(i).asDouble();
            }
            return out;
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
