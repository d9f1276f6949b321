package dev.suppress.onnx;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrtDenoiserParityTest {

    /** The noise prediction goes through ~65 convolutions and 20 attentions in float32 on both sides. */
    static final Tolerance NOISE = new Tolerance(1e-4, 2e-5,
            "float32 ONNX Runtime vs float32 PyTorch CPU through the whole UNet");
    /** Softmax probabilities lie in [0, 1]; scores differ only by float32 summation order upstream. */
    static final Tolerance PROBABILITIES = new Tolerance(1e-4, 1e-6,
            "float32 softmax of scores that differ by float32 summation order upstream");
    /** The cut model runs the same kernels on the same inputs; only graph-level fusion choices could differ. */
    static final Tolerance SAME_KERNELS = new Tolerance(0, 1e-6,
            "same kernels on the same inputs in the full and the cut model");
    /** The fixture keeps only these query rows of the 32x32 self-attention maps (MANIFEST.md deviation 3). */
    private static final int STORED_ROWS = 64;

    private static final List<RawAttention> aggregated = new ArrayList<>();
    private static OrtDenoiser denoiser;
    private static SafetensorsFile golden;
    private static Tensor latent;
    private static Tensor context;

    @BeforeAll
    static void open() {
        denoiser = TinyOnnxModel.denoiser(OrtDenoiserParityTest::recordAggregation);
        golden = Fixtures.open("components/unet.safetensors");
        latent = golden.tensor("latent");
        context = golden.tensor("encoder_hidden_states");
    }

    @AfterAll
    static void close() {
        denoiser.close();
        golden.close();
    }

    /** Stands in for core's aggregation: records what the backend hands over and returns empty maps. */
    private static AttentionMaps recordAggregation(RawAttention raw, AttentionCapture capture) {
        aggregated.add(raw);
        return new AttentionMaps(Tensor.zeros(raw.batch(), 1, 1, 77), Tensor.zeros(raw.batch(), 1, 1, 1), Map.of());
    }

    @ParameterizedTest
    @ValueSource(ints = {981, 501})
    void matchesTheReferenceNoisePrediction(int timestep) {
        Tensor noise = denoiser.denoise(latent, timestep, context, null).noisePrediction();
        TensorAssertions.assertClose("noise_pred_t" + timestep, golden.tensor("noise_pred_t" + timestep), noise,
                NOISE);
    }

    @Test
    void exposesEveryAttentionSoftmaxAsTheReferenceStoresIt() {
        List<AttentionLayerId> all = denoiser.description().attentionLayers().stream()
                .map(AttentionLayerInfo::id).toList();
        OrtDenoiser.UNetRun run = denoiser.run(latent, 981, context, all, false);

        assertEquals(20, run.attention().probabilities().size());
        for (AttentionLayerId id : all) {
            Tensor actual = run.attention().probabilities().get(id);
            String name = "attn_t981_" + id.referenceName();
            if (golden.contains(name)) {
                TensorAssertions.assertClose(name, golden.tensor(name), actual, PROBABILITIES);
            } else {
                String rows = name + "_rows0_" + STORED_ROWS;
                TensorAssertions.assertClose(rows, golden.tensor(rows), firstRows(actual, STORED_ROWS),
                        PROBABILITIES);
            }
        }
        TensorAssertions.assertClose("noise_pred_t981 with attention outputs", golden.tensor("noise_pred_t981"),
                run.noisePrediction(), NOISE);
    }

    @Test
    void theAttentionOnlyModelGivesTheSoftmaxOutputsOfTheFullModel() {
        Set<AttentionLayerId> sixteen = denoiser.description().attentionLayers().stream()
                .filter(layer -> layer.resolution(32) == 16).map(AttentionLayerInfo::id).collect(Collectors.toSet());
        OrtDenoiser.UNetRun full = denoiser.run(latent, 981, context, sixteen, false);
        OrtDenoiser.UNetRun cut = denoiser.run(latent, 981, context, sixteen, true);

        assertNull(cut.noisePrediction(), "the cut model has no noise prediction");
        assertEquals(6, cut.attention().probabilities().size(), "16x16: down 1, up 2 (x2), cross and self");
        for (AttentionLayerId id : sixteen) {
            TensorAssertions.assertClose(id + " cut vs full", full.attention().probabilities().get(id),
                    cut.attention().probabilities().get(id), SAME_KERNELS);
        }
    }

    @Test
    void aBatchOfTwoGivesBatchMajorRows() {
        Tensor latents = Tensor.concat(latent, latent);
        Tensor contexts = Tensor.concat(context, golden.tensor("encoder_hidden_states"));
        AttentionLayerId layer = new AttentionLayerId(UNetPlace.DOWN, AttentionKind.CROSS, 1);
        Tensor batch = denoiser.run(latents, 981, contexts, List.of(layer), true).attention().probabilities()
                .get(layer);
        Tensor single = golden.tensor("attn_t981_down_cross_1");

        assertArrayEquals(new int[] {4, 256, 77}, batch.shape(), "[batch*heads, pixels, keys]");
        TensorAssertions.assertClose("down_cross_1, batch element 1", single,
                Tensor.concat(batch.slice(2).reshape(1, 256, 77), batch.slice(3).reshape(1, 256, 77)),
                PROBABILITIES);
    }

    @Test
    void handsTheCapturedLayersToTheAggregation() {
        aggregated.clear();
        AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
        denoiser.denoise(latent, 981, context, capture);
        denoiser.attention(latent, 981, context, capture);

        assertEquals(2, aggregated.size());
        for (RawAttention raw : aggregated) {
            assertEquals(Set.of("down_cross_1", "up_cross_2", "up_cross_3", "down_self_1", "up_self_2",
                    "up_self_3"), raw.probabilities().keySet().stream().map(AttentionLayerId::referenceName)
                    .collect(Collectors.toSet()), "the reference's 16x16 layers; mid works at 4x4");
            assertEquals(1, raw.batch());
            assertEquals(32, raw.latentHeight());
        }
        TensorAssertions.assertClose("down_cross_1 via attention()", golden.tensor("attn_t981_down_cross_1"),
                aggregated.get(1).probabilities().get(new AttentionLayerId(UNetPlace.DOWN, AttentionKind.CROSS, 1)),
                PROBABILITIES);
    }

    @Test
    void theUneditedModelIsOpenedOnlyForAPlainPass() {
        AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
        try (OrtDenoiser fresh = TinyOnnxModel.denoiser(OrtDenoiserParityTest::recordAggregation)) {
            assertEquals(0, fresh.openSessions(), "nothing is loaded into ONNX Runtime before the first pass");
            fresh.attention(latent, 981, context, capture);
            fresh.denoise(latent, 981, context, capture);
            assertEquals(2, fresh.openSessions(), "a generation needs the cut and the captured model only");
            Tensor plain = fresh.denoise(latent, 981, context, null).noisePrediction();
            assertEquals(3, fresh.openSessions());
            TensorAssertions.assertClose("plain pass", golden.tensor("noise_pred_t981"), plain, NOISE);
        }
    }

    @Test
    void describesTheTinyUNet() {
        UNetDescription description = denoiser.description();
        assertEquals(4, description.inChannels());
        assertEquals(80, description.crossAttentionDim());
        assertEquals(UNetDescription.PredictionType.EPSILON, description.predictionType());
        assertEquals(20, description.attentionLayers().size());
    }

    @Test
    void rejectsACaptureThatSelectsNoLayer() {
        AttentionCapture capture = AttentionCapture.reference(64, HeadAveraging.ALL_HEADS);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> denoiser.attention(latent, 981, context, capture));
        assertTrue(error.getMessage().contains("resolution 64 for latents of side 32"), error.getMessage());
        assertTrue(error.getMessage().contains("[4, 8, 16, 32]"), error.getMessage());
    }

    @Test
    void rejectsMismatchedContexts() {
        Tensor twoContexts = Tensor.concat(context, context);
        assertThrows(IllegalArgumentException.class, () -> denoiser.denoise(latent, 981, twoContexts, null));
    }

    @Test
    void repeatedAttentionOnlyPassesAreIdentical() {
        AttentionLayerId layer = new AttentionLayerId(UNetPlace.MID, AttentionKind.SELF, 0);
        Tensor first = denoiser.run(latent, 501, context, List.of(layer), true).attention().probabilities().get(layer);
        Tensor second = denoiser.run(latent, 501, context, List.of(layer), true).attention().probabilities()
                .get(layer);
        assertEquals(first, second, "the cached cut session on the same inputs is deterministic");
    }

    /** Rows {@code 0 .. rows-1} of every head of {@code [heads, pixels, keys]}. */
    private static Tensor firstRows(Tensor probabilities, int rows) {
        Tensor[] heads = new Tensor[probabilities.dim(0)];
        for (int h = 0; h < heads.length; h++) {
            float[] all = probabilities.slice(h).toArray();
            float[] kept = new float[rows * probabilities.dim(2)];
            System.arraycopy(all, 0, kept, 0, kept.length);
            heads[h] = Tensor.wrapOwned(kept, rows, probabilities.dim(2));
        }
        return Tensor.stack(heads);
    }
}
