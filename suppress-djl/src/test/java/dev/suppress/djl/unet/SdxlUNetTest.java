package dev.suppress.djl.unet;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.TinySdxlFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

import static dev.suppress.djl.TinySdxlFolder.POOLED_WIDTH;
import static dev.suppress.djl.TinySdxlFolder.TEXT_ENCODER_WIDTH;
import static dev.suppress.djl.TinySdxlFolder.TIME_IDS;
import static dev.suppress.djl.TinySdxlFolder.TIME_ID_CHANNELS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The SDXL UNet on the tiny SDXL-shaped model {@link TinySdxlFolder}: the architecture its configuration describes,
 * the {@code text_time} addition embedding against the same sums computed here in float64 from the stored weights,
 * and the forward pass's own invariants (no reference output of SDXL exists among the fixtures).
 */
class SdxlUNetTest {

    private static final int CONTEXT_WIDTH = TEXT_ENCODER_WIDTH + POOLED_WIDTH;

    @TempDir
    static Path dir;

    private static Path unet;

    @BeforeAll
    static void writeModel() {
        unet = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("tiny-sdxl")).resolve("unet");
    }

    @Test
    void theConfigurationGivesSdxlsArchitecture() {
        Map<String, long[]> shapes = DjlDenoiser.parameterShapes(unet);
        // add_time_proj has no parameters; add_embedding maps pooled width + 6 x 8 to the time embedding (4 x 32)
        assertArrayEquals(new long[] {128, POOLED_WIDTH + TIME_IDS * TIME_ID_CHANNELS},
                shapes.get("add_embedding.linear_1.weight"));
        assertArrayEquals(new long[] {128, 128}, shapes.get("add_embedding.linear_2.weight"));
        // the first level is a DownBlock2D: no cross-attention there, and none in the last up block
        assertFalse(shapes.keySet().stream().anyMatch(key -> key.startsWith("down_blocks.0.attentions.")));
        assertFalse(shapes.keySet().stream().anyMatch(key -> key.startsWith("up_blocks.2.attentions.")));
        // transformer_layers_per_block [1, 2, 3]: per level down, the last level's count in the mid block, reversed up
        assertTrue(shapes.containsKey("down_blocks.1.attentions.1.transformer_blocks.1.attn2.to_k.weight"));
        assertFalse(shapes.containsKey("down_blocks.1.attentions.1.transformer_blocks.2.attn2.to_k.weight"));
        assertTrue(shapes.containsKey("down_blocks.2.attentions.1.transformer_blocks.2.attn2.to_k.weight"));
        assertTrue(shapes.containsKey("mid_block.attentions.0.transformer_blocks.2.attn2.to_k.weight"));
        assertTrue(shapes.containsKey("up_blocks.0.attentions.2.transformer_blocks.2.attn2.to_k.weight"));
        assertTrue(shapes.containsKey("up_blocks.1.attentions.2.transformer_blocks.1.attn2.to_k.weight"));
        assertFalse(shapes.containsKey("up_blocks.1.attentions.2.transformer_blocks.2.attn2.to_k.weight"));
        // linear projections; the keys of the 48-wide context of both encoders
        assertArrayEquals(new long[] {64, 64}, shapes.get("down_blocks.1.attentions.0.proj_in.weight"));
        assertArrayEquals(new long[] {64, CONTEXT_WIDTH},
                shapes.get("down_blocks.2.attentions.0.transformer_blocks.0.attn2.to_k.weight"));
    }

    @Test
    void theEmbeddingIsTheTimeEmbeddingPlusTheAdditionEmbeddingComputedByHand() throws IOException {
        int timestep = 801;
        Tensor pooled = randomTensor(11, 2, POOLED_WIDTH);
        Tensor timeIds = Tensor.of(new float[] {1024, 1024, 0, 0, 1024, 1024, 512, 768, 16, 32, 1024, 960}, 2,
                TIME_IDS);
        TextTimeConditioning added = new TextTimeConditioning(pooled, timeIds);
        float[] actual;
        try (UNet2DConditionModel model = UNet2DConditionModel.load(unet, Device.cpu(), DataType.FLOAT32);
             NDManager scope = model.newScope()) {
            NDArray embedding = model.embedding(scope, timestep, added);
            assertArrayEquals(new long[] {2, 128}, embedding.getShape().getShape());
            actual = embedding.toFloatArray();
        }
        try (SafetensorsFile weights = SafetensorsFile.open(unet.resolve("diffusion_pytorch_model.safetensors"))) {
            double[] time = mlp(weights, "time_embedding", sinusoid(timestep, 32));
            for (int row = 0; row < 2; row++) {
                double[] input = new double[POOLED_WIDTH + TIME_IDS * TIME_ID_CHANNELS];
                for (int i = 0; i < POOLED_WIDTH; i++) {
                    input[i] = pooled.get(row * POOLED_WIDTH + i);
                }
                for (int id = 0; id < TIME_IDS; id++) {
                    double[] projection = sinusoid(timeIds.get(row * TIME_IDS + id), TIME_ID_CHANNELS);
                    System.arraycopy(projection, 0, input, POOLED_WIDTH + id * TIME_ID_CHANNELS, TIME_ID_CHANNELS);
                }
                double[] addition = mlp(weights, "add_embedding", input);
                for (int i = 0; i < 128; i++) {
                    double expected = time[i] + addition[i];
                    assertEquals(expected, actual[row * 128 + i], 1e-4 + 1e-4 * Math.abs(expected),
                            "emb[" + row + ", " + i + "]");
                }
            }
        }
    }

    @Test
    void theForwardPassRunsAndEachRowFollowsItsOwnConditioning() {
        Tensor latents = randomTensor(1, 2, 4, 16, 16);
        Tensor contexts = randomTensor(2, 2, 77, CONTEXT_WIDTH);
        Tensor pooled = randomTensor(3, 2, POOLED_WIDTH);
        Tensor timeIds = TextTimeConditioning.sdxlTimeIds(2, 1024, 1024, 0, 0, 1024, 1024);
        float[] otherPooled = pooled.toArray();
        for (int i = POOLED_WIDTH; i < 2 * POOLED_WIDTH; i++) {
            otherPooled[i] = -otherPooled[i];
        }
        AttentionCapture capture = AttentionCapture.reference(8, HeadAveraging.ALL_HEADS);
        try (DjlDenoiser denoiser = DjlDenoiser.open(unet, Device.cpu(), UNetDescription.PredictionType.EPSILON)) {
            UNetDescription description = denoiser.description();
            assertEquals(CONTEXT_WIDTH, description.crossAttentionDim());
            // transformer blocks: down 2x2 + 2x3, mid 3, up 3x3 + 3x2 = 28, each with a self and a cross attention
            assertEquals(56, description.attentionLayers().size());
            assertTrue(description.attentionLayers().stream().map(AttentionLayerInfo::downsampleFactor)
                    .allMatch(factor -> factor == 2 || factor == 4));

            DenoiserOutput output = denoiser.denoise(latents, 501, contexts,
                    new TextTimeConditioning(pooled, timeIds), capture);
            Tensor noise = output.noisePrediction();
            assertArrayEquals(new int[] {2, 4, 16, 16}, noise.shape());
            for (int i = 0; i < noise.size(); i++) {
                assertTrue(Float.isFinite(noise.get(i)), "noise[" + i + "] is finite");
            }
            // the cross-attention maps at 8x8 (the level after the first, attention-free one): probabilities
            AttentionMaps maps = output.attention();
            assertNotNull(maps);
            assertArrayEquals(new int[] {2, 8, 8, 77}, maps.cross().shape());
            for (int pixel = 0; pixel < 2 * 8 * 8; pixel++) {
                double sum = 0;
                for (int key = 0; key < 77; key++) {
                    sum += maps.cross().get(pixel * 77 + key);
                }
                assertEquals(1.0, sum, 1e-4, "cross-attention row " + pixel + " sums to 1");
            }

            // another pooled embedding in row 1 only: row 0 is unchanged (to float32 batching noise), row 1 is not
            Tensor other = denoiser.denoise(latents, 501, contexts,
                    new TextTimeConditioning(Tensor.of(otherPooled, 2, POOLED_WIDTH), timeIds), null)
                    .noisePrediction();
            assertTrue(maxDifference(noise.batchElement(0), other.batchElement(0)) < 1e-5);
            assertTrue(maxDifference(noise.batchElement(1), other.batchElement(1)) > 1e-3);
            // other time ids (a crop) change the prediction
            Tensor cropped = denoiser.denoise(latents, 501, contexts, new TextTimeConditioning(pooled,
                    TextTimeConditioning.sdxlTimeIds(2, 1024, 1024, 256, 0, 1024, 1024)), null).noisePrediction();
            assertTrue(maxDifference(noise, cropped) > 1e-3);

            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                    () -> denoiser.denoise(latents, 501, contexts, null));
            assertTrue(missing.getMessage().contains("addition_embed_type \"text_time\""), missing.getMessage());
            IllegalArgumentException wide = assertThrows(IllegalArgumentException.class,
                    () -> denoiser.denoise(latents, 501, contexts, new TextTimeConditioning(randomTensor(4, 2,
                            POOLED_WIDTH + 1), timeIds), null));
            assertTrue(wide.getMessage().contains("projection_class_embeddings_input_dim is "
                    + (POOLED_WIDTH + TIME_IDS * TIME_ID_CHANNELS)), wide.getMessage());
            assertTrue(denoiser.attentionPassFraction(capture, 16) > 0);
        }
    }

    @Test
    void float16StaysWithinHalfPrecisionRoundingOfFloat32() {
        Tensor latents = randomTensor(5, 2, 4, 16, 16);
        Tensor contexts = randomTensor(6, 2, 77, CONTEXT_WIDTH);
        TextTimeConditioning added = new TextTimeConditioning(randomTensor(7, 2, POOLED_WIDTH),
                TextTimeConditioning.sdxlTimeIds(2, 1024, 1024, 0, 0, 1024, 1024));
        try (DjlDenoiser fp32 = DjlDenoiser.open(unet, Device.cpu(), UNetDescription.PredictionType.EPSILON);
             DjlDenoiser fp16 = DjlDenoiser.open(unet, Device.cpu(), UNetDescription.PredictionType.EPSILON,
                     DataType.FLOAT16)) {
            float[] exact = fp32.denoise(latents, 501, contexts, added, null).noisePrediction().toArray();
            float[] half = fp16.denoise(latents, 501, contexts, added, null).noisePrediction().toArray();
            double difference = 0;
            double norm = 0;
            for (int i = 0; i < exact.length; i++) {
                difference += (exact[i] - half[i]) * (double) (exact[i] - half[i]);
                norm += exact[i] * (double) exact[i];
            }
            double relative = Math.sqrt(difference / norm);
            // float16 keeps 11 significant bits: HalfPrecisionAutocastTest's bound on the fixture UNet (2.3e-3 here)
            assertTrue(relative > 0 && relative < 5e-3, "fp16 vs fp32 relative L2 " + relative);
        }
    }

    @Test
    void aStableDiffusionUNetRefusesTextTimeConditioning() {
        try (DjlDenoiser denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                UNetDescription.PredictionType.EPSILON)) {
            TextTimeConditioning added = new TextTimeConditioning(Tensor.zeros(1, 4), Tensor.zeros(1, 6));
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> denoiser.denoise(Tensor.zeros(1, 4, 8, 8), 1, Tensor.zeros(1, 77, 80), added, null));
            assertTrue(error.getMessage().contains("has no addition_embed_type"), error.getMessage());
        }
    }

    /** {@code get_timestep_embedding} with {@code flip_sin_to_cos}, shift 0, in float64. */
    private static double[] sinusoid(double value, int channels) {
        int half = channels / 2;
        double[] out = new double[channels];
        for (int i = 0; i < half; i++) {
            double argument = value * Math.exp(-Math.log(10000) * i / half);
            out[i] = Math.cos(argument);
            out[half + i] = Math.sin(argument);
        }
        return out;
    }

    /** {@code linear_2(silu(linear_1(x)))} from the stored weights, in float64. */
    private static double[] mlp(SafetensorsFile weights, String prefix, double[] x) throws IOException {
        double[] hidden = linear(weights, prefix + ".linear_1", x);
        for (int i = 0; i < hidden.length; i++) {
            hidden[i] = hidden[i] / (1 + Math.exp(-hidden[i]));
        }
        return linear(weights, prefix + ".linear_2", hidden);
    }

    private static double[] linear(SafetensorsFile weights, String prefix, double[] x) throws IOException {
        Tensor weight = weights.tensor(prefix + ".weight");
        Tensor bias = weights.tensor(prefix + ".bias");
        assertEquals(x.length, weight.dim(1), prefix + " input width");
        double[] out = new double[weight.dim(0)];
        for (int row = 0; row < out.length; row++) {
            double sum = bias.get(row);
            for (int column = 0; column < x.length; column++) {
                sum += weight.get(row * x.length + column) * x[column];
            }
            out[row] = sum;
        }
        return out;
    }

    private static Tensor randomTensor(long seed, int... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        int count = 1;
        for (int dim : shape) {
            count *= dim;
        }
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return Tensor.wrapOwned(values, shape);
    }

    @Test
    void aSplitBatchSplitsItsPooledEmbeddingsAndTimeIdsRowByRow() {
        Tensor latents = randomTensor(21, 3, 4, 16, 16);
        Tensor contexts = randomTensor(22, 3, 77, CONTEXT_WIDTH);
        TextTimeConditioning added = new TextTimeConditioning(randomTensor(23, 3, POOLED_WIDTH),
                TextTimeConditioning.sdxlTimeIds(3, 1024, 768, 0, 0, 1024, 1024));
        try (DjlDenoiser denoiser = DjlDenoiser.open(unet, Device.cpu(), UNetDescription.PredictionType.EPSILON)) {
            Tensor whole = denoiser.denoise(latents, 501, contexts, added, null).noisePrediction();
            long before = denoiser.fullPasses();
            System.setProperty(UNetBatchSplit.AVAILABLE_PROPERTY, Long.toString(
                    ((long) UNetBatchSplit.RESERVE_MIB << 20) + UNetBatchSplit.bytesPerSample(32, 16, 16)));
            Tensor split;
            try {
                split = denoiser.denoise(latents, 501, contexts, added, null).noisePrediction();
            } finally {
                System.clearProperty(UNetBatchSplit.AVAILABLE_PROPERTY);
            }
            assertEquals(before + 3, denoiser.fullPasses(), "one pass per sample");
            // 1e-5: float32 batching noise, as above (measured 2.1e-6); a row given another row's pooled embedding would differ by 1e-3
            assertTrue(maxDifference(whole, split) < 1e-5, "split differs by " + maxDifference(whole, split));
        }
    }

    private static double maxDifference(Tensor a, Tensor b) {
        double max = 0;
        for (int i = 0; i < a.size(); i++) {
            max = Math.max(max, Math.abs(a.get(i) - b.get(i)));
        }
        return max;
    }
}
