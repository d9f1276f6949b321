package dev.suppress.djl;

import ai.djl.Device;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.UNetDescription;
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
import dev.suppress.djl.unet.TextTimeConditioning;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Non-square images on the fixture model (and the SDXL-shaped one): no reference output exists for rectangles, so
 * these check what can fail: the sizes of images, latents and maps, the original branch against the guided DDIM
 * loop written out here, per-pixel sums of the captured maps, and that the transposed size is another image.
 */
class DjlRectangularGenerationTest {

    private static final String PROMPT = "a man without glasses";
    /** 256 px wide, 192 px high: latent 24 x 32, attention levels 24x32, 12x16, 6x8 and 3x4 (mid). */
    private static final int WIDTH = 256;
    private static final int HEIGHT = 192;
    private static final int STEPS = 4;
    private static final int SDXL_STEPS = 3;
    /** The pipeline batches the branches as [uncond x2, cond x2] or [uncond, cond]: float32 rounding only. */
    private static final double BATCHING = 1e-5;

    @TempDir
    static Path dir;

    private static Suppressor suppressor;

    @BeforeAll
    static void open() {
        suppressor = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel()).build();
    }

    @AfterAll
    static void close() {
        if (suppressor != null) {
            suppressor.close();
        }
    }

    private static SuppressionRequest.Builder request() {
        return SuppressionRequest.builder(PROMPT).suppress("glasses").steps(STEPS).seed(11).itoIterations(1)
                .width(WIDTH).height(HEIGHT);
    }

    @Test
    void aRectangleGivesImagesOfItsSizeWithTheGuidedDdimLoopAsTheOriginalBranch() {
        SuppressionResult result = suppressor.generate(request().build());
        assertEquals(WIDTH, result.original().getWidth());
        assertEquals(HEIGHT, result.original().getHeight());
        assertEquals(WIDTH, result.suppressed().getWidth());
        assertEquals(HEIGHT, result.suppressed().getHeight());
        assertArrayEquals(new int[] {1, 4, 24, 32}, result.originalLatent().shape());
        // ITO maps: the level whose mean side is nearest 16 is 12x16 (sqrt(192) = 13.9; 24x32 gives 27.7)
        assertArrayEquals(new int[] {12, 16, 77}, result.attention().original().shape());
        assertEquals(16, result.attentionResolution());
        assertTrue(!result.itoSteps().isEmpty(), "ITO ran");
        for (SuppressionResult.ItoStep step : result.itoSteps()) {
            for (double loss : step.losses()) {
                assertTrue(Double.isFinite(loss), "ITO loss " + loss + " at step " + step.stepIndex());
            }
        }

        Tensor expected;
        Path model = Fixtures.tinyModel();
        ClipTokenizer tokenizer = ClipTokenizer.load(model.resolve("tokenizer"));
        try (DjlTextEncoder text = DjlTextEncoder.open(model.resolve("text_encoder"), Device.cpu());
             DjlDenoiser unet = DjlDenoiser.open(model.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON)) {
            Tensor contexts = Tensor.stack(text.encode(tokenizer.tokenize("").inputIds()),
                    text.encode(tokenizer.tokenize(PROMPT).inputIds()));
            DdimScheduler scheduler = new DdimScheduler(SchedulerConfig.readFromModelFolder(model), STEPS);
            Tensor latent = TorchGaussianNoise.randn(11, 1, 4, HEIGHT / 8, WIDTH / 8);
            for (int timestep : scheduler.timesteps()) {
                Tensor noise = unet.denoise(Tensor.concat(latent, latent), timestep, contexts, null)
                        .noisePrediction();
                latent = scheduler.step(ClassifierFreeGuidance.guide(noise, 1, 7.5), timestep, latent).prevSample();
            }
            expected = latent;
        }
        double difference = TensorAssertions.relativeMaxDifference(result.originalLatent(), expected);
        assertTrue(difference < BATCHING, "original branch vs the guided DDIM loop: " + difference);
        assertTrue(TensorAssertions.relativeMaxDifference(result.suppressedLatent(), result.originalLatent()) > 1e-3,
                "suppression changed the suppressed branch");
    }

    @Test
    void theTransposedSizeIsAnotherImageNotATransposedOne() {
        SuppressionResult wide = suppressor.generate(request().itoIterations(0).steps(2).build());
        SuppressionResult tall = suppressor.generate(request().itoIterations(0).steps(2).width(HEIGHT).height(WIDTH)
                .build());
        assertEquals(HEIGHT, tall.original().getWidth());
        assertEquals(WIDTH, tall.original().getHeight());
        assertArrayEquals(new int[] {1, 4, 32, 24}, tall.originalLatent().shape());
        assertArrayEquals(new int[] {16, 12, 77}, tall.attention().original().shape());
        // the seed's noise is one flat sequence whatever the shape, so a size mix-up would show as the same values
        Tensor transposed = transposeLatent(wide.originalLatent());
        assertTrue(TensorAssertions.relativeMaxDifference(tall.originalLatent(), transposed) > 1e-2,
                "the 192x256 run is the 256x192 run transposed");
        assertTrue(TensorAssertions.relativeMaxDifference(Tensor.of(tall.originalLatent().toArray(), 1, 4, 24, 32),
                wide.originalLatent()) > 1e-2, "the 192x256 run has the 256x192 run's values");
    }

    @Test
    void captureAtARectangleReturnsMapsOfTheLevelsHeightAndWidthWhoseRowsSumToOne() {
        Path model = Fixtures.tinyModel();
        Random random = new Random(354);
        float[] values = new float[4 * 24 * 32];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        Tensor latent = Tensor.of(values, 1, 4, 24, 32);
        float[] context = new float[77 * 80];
        for (int i = 0; i < context.length; i++) {
            context[i] = (float) random.nextGaussian();
        }
        Tensor contexts = Tensor.of(context, 1, 77, 80);
        try (DjlDenoiser unet = DjlDenoiser.open(model.resolve("unet"), Device.cpu(),
                UNetDescription.PredictionType.EPSILON)) {
            AttentionLayerInfo down = unet.description().attentionLayers().stream()
                    .filter(layer -> layer.modulePath().startsWith("down_blocks.1.")
                            && layer.modulePath().endsWith("attn2"))
                    .findFirst().orElseThrow();
            AttentionCapture capture = AttentionCapture.reference(12, 16, HeadAveraging.ALL_HEADS)
                    .withRawLayers(Set.of(down.id()));
            AttentionMaps maps = unet.denoise(latent, 501, contexts, capture).attention();
            assertArrayEquals(new int[] {1, 12, 16, 77}, maps.cross().shape());
            assertArrayEquals(new int[] {1, 12, 16, 192}, maps.self().shape());
            assertArrayEquals(new int[] {down.heads(), 192, 77}, maps.raw().get(down.id()).shape());
            assertRowsSumToOne("cross", maps.cross());
            assertRowsSumToOne("self", maps.self());
            // the attention-only pass stops early and gives the same maps
            AttentionMaps cut = unet.attention(latent, 501, contexts, capture);
            TensorAssertions.assertClose("attention-only cross maps", maps.cross().toDoubleArray(),
                    cut.cross().toDoubleArray(), new TensorAssertions.Tolerance(1e-6, 1e-6,
                            "the same layers on the same inputs"));
            double fraction = unet.attentionPassFraction(capture, 24, 32);
            assertTrue(fraction > 0 && fraction < 1, "attention-only share " + fraction);
            // the transposed level does not exist at this latent, and says so with the sizes it has
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> unet.denoise(latent,
                    501, contexts, AttentionCapture.reference(16, 12, HeadAveraging.ALL_HEADS)));
            assertTrue(error.getMessage().contains("16x12") && error.getMessage().contains("12x16"),
                    error.getMessage());
        }
    }

    @Test
    void sdxlTakesTheRectanglesHeightAndWidthAsItsTimeIds() {
        Path folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("sdxl"));
        int width = TinySdxlFolder.SAMPLE_SIZE * 8;
        int height = width / 2;
        SuppressionResult result;
        try (Suppressor sdxl = Suppressor.builder().backend("djl").modelFolder(folder).build()) {
            // the original branch is what the time ids reach; ITO is covered on SD above
            result = sdxl.generate(SuppressionRequest.builder(PROMPT).suppress("glasses").steps(SDXL_STEPS).seed(7)
                    .itoIterations(0).width(width).height(height).build());
        }
        assertEquals(width, result.original().getWidth());
        assertEquals(height, result.original().getHeight());
        int[] ids = ClipTokenizer.load(folder.resolve("tokenizer")).tokenize(PROMPT).inputIds();
        Tensor expected;
        Tensor swapped;
        try (DjlTextEncoder first = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu());
             DjlTextEncoder second = DjlTextEncoder.open(folder.resolve("text_encoder_2"), Device.cpu());
             DjlDenoiser unet = DjlDenoiser.open(folder.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON)) {
            SdxlTextEncoder encoder = SdxlTextEncoder.of(folder, first, second, true);
            Tensor embedding = encoder.encode(ids);
            Tensor pooled = encoder.pooled(ids).orElseThrow();
            Tensor contexts = Tensor.stack(Tensor.zeros(embedding.shape()), embedding);
            Tensor pooledRows = Tensor.stack(Tensor.zeros(pooled.shape()), pooled);
            // diffusers' _get_add_time_ids: original_size + crops_coords_top_left + target_size, sizes as (h, w)
            TextTimeConditioning added = new TextTimeConditioning(pooledRows,
                    TextTimeConditioning.sdxlTimeIds(2, height, width, 0, 0, height, width));
            TextTimeConditioning wrongWayRound = new TextTimeConditioning(pooledRows,
                    TextTimeConditioning.sdxlTimeIds(2, width, height, 0, 0, width, height));
            expected = guidedLoop(unet, folder, contexts, added, height / 8, width / 8);
            swapped = guidedLoop(unet, folder, contexts, wrongWayRound, height / 8, width / 8);
        }
        double difference = TensorAssertions.relativeMaxDifference(result.originalLatent(), expected);
        assertTrue(difference < BATCHING, "original branch vs SDXL's guided loop with (h, w) time ids: "
                + difference);
        assertTrue(TensorAssertions.relativeMaxDifference(expected, swapped) > 10 * BATCHING,
                "the time ids' order matters on this UNet, so the check above can tell (w, h) from (h, w)");
    }

    private static Tensor guidedLoop(DjlDenoiser unet, Path folder, Tensor contexts, TextTimeConditioning added,
                                     int latentHeight, int latentWidth) {
        DdimScheduler scheduler = new DdimScheduler(SchedulerConfig.readFromModelFolder(folder), SDXL_STEPS);
        Tensor latent = TorchGaussianNoise.randn(7, 1, 4, latentHeight, latentWidth);
        for (int timestep : scheduler.timesteps()) {
            Tensor noise = unet.denoise(Tensor.concat(latent, latent), timestep, contexts, added, null)
                    .noisePrediction();
            latent = scheduler.step(ClassifierFreeGuidance.guide(noise, 1, 7.5), timestep, latent).prevSample();
        }
        return latent;
    }

    private static void assertRowsSumToOne(String name, Tensor maps) {
        int keys = maps.dim(3);
        for (int row = 0; row < maps.size() / keys; row++) {
            double sum = 0;
            for (int k = 0; k < keys; k++) {
                sum += maps.get(row * keys + k);
            }
            assertEquals(1.0, sum, 1e-4, name + " map row " + row + " (query pixel " + row + ")");
        }
    }

    /** {@code [1, c, h, w]} to {@code [1, c, w, h]}. */
    private static Tensor transposeLatent(Tensor latent) {
        int channels = latent.dim(1);
        int height = latent.dim(2);
        int width = latent.dim(3);
        float[] in = latent.toArray();
        float[] out = new float[in.length];
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < width; x++) {
                    out[(c * width + x) * height + y] = in[(c * height + y) * width + x];
                }
            }
        }
        return Tensor.of(out, 1, channels, width, height);
    }
}
