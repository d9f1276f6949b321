package dev.suppress.djl.clip;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.TinySdxlFolder;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.suppress.djl.TinySdxlFolder.POOLED_WIDTH;
import static dev.suppress.djl.TinySdxlFolder.TEXT_ENCODER_WIDTH;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * SDXL's two text encoders on the tiny SDXL-shaped model: {@code CLIPTextModelWithProjection}'s
 * {@code text_projection}, the hidden state an SDXL pipeline takes (checked against the final layer norm and against
 * a model one layer shorter with the same weights), and the pooled output at the [EOT] position, checked by hand.
 */
class SdxlTextEncoderTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BOS = 49406;
    private static final int EOT = 49407;

    @TempDir
    static Path dir;

    private static Path model;

    @BeforeAll
    static void writeModel() {
        model = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("tiny-sdxl"));
    }

    /** A prompt of three tokens, padded with "!" (id 0) as SDXL's tokenizer_2 pads. */
    private static int[] paddedWithExclamationMarks() {
        int[] ids = new int[77];
        ids[0] = BOS;
        ids[1] = 320;
        ids[2] = 1929;
        ids[3] = 4007;
        ids[4] = EOT;
        return ids;
    }

    @Test
    void onlyTheTextEncoderWithProjectionHasTextProjection() {
        Map<String, long[]> second = DjlTextEncoder.parameterShapes(model.resolve("text_encoder_2"));
        assertArrayEquals(new long[] {POOLED_WIDTH, POOLED_WIDTH}, second.get("text_projection.weight"));
        assertFalse(second.containsKey("text_projection.bias"));
        assertFalse(DjlTextEncoder.parameterShapes(model.resolve("text_encoder"))
                .containsKey("text_projection.weight"));
    }

    @Test
    void thePooledOutputIsTheProjectedFinalStateAtTheEndOfText() throws IOException {
        int[] ids = paddedWithExclamationMarks();
        Path folder = model.resolve("text_encoder_2");
        try (DjlTextEncoder encoder = DjlTextEncoder.open(folder, Device.cpu());
             SafetensorsFile weights = SafetensorsFile.open(folder.resolve("model.safetensors"))) {
            assertEquals(POOLED_WIDTH, encoder.pooledSize());
            PooledTextEncoding encoding = encoder.encodeWithPooled(ids, 2);
            // eos_token_id 2 (legacy): the argmax of the ids, the [EOT] at position 4, not a "!" pad
            assertEquals(4, encoding.poolIndex());
            assertArrayEquals(new int[] {77, POOLED_WIDTH}, encoding.hiddenStates().shape());
            Tensor last = encoder.encode(ids);
            Tensor projection = weights.tensor("text_projection.weight");
            for (int out = 0; out < POOLED_WIDTH; out++) {
                double expected = 0;
                for (int in = 0; in < POOLED_WIDTH; in++) {
                    expected += projection.get(out * POOLED_WIDTH + in) * last.get(4 * POOLED_WIDTH + in);
                }
                assertEquals(expected, encoding.pooled().get(out), 1e-5, "text_embeds[" + out + "]");
            }

            // hidden_states[-1] is the last layer's output before the final layer norm
            Tensor lastLayer = encoder.encodeWithPooled(ids, 1).hiddenStates();
            Tensor gain = weights.tensor("text_model.final_layer_norm.weight");
            Tensor bias = weights.tensor("text_model.final_layer_norm.bias");
            for (int position = 0; position < 77; position++) {
                double mean = 0;
                double square = 0;
                for (int i = 0; i < POOLED_WIDTH; i++) {
                    double value = lastLayer.get(position * POOLED_WIDTH + i);
                    mean += value;
                    square += value * value;
                }
                mean /= POOLED_WIDTH;
                double variance = square / POOLED_WIDTH - mean * mean;
                for (int i = 0; i < POOLED_WIDTH; i++) {
                    double normed = (lastLayer.get(position * POOLED_WIDTH + i) - mean) / Math.sqrt(variance + 1e-5)
                            * gain.get(i) + bias.get(i);
                    assertEquals(normed, last.get(position * POOLED_WIDTH + i), 1e-4,
                            "final_layer_norm(hidden_states[-1])[" + position + ", " + i + "]");
                }
            }
            assertThrows(IllegalArgumentException.class, () -> encoder.encodeWithPooled(ids, 0));
            assertThrows(IllegalArgumentException.class, () -> encoder.encodeWithPooled(ids, 5));
        }
    }

    @Test
    void thePenultimateHiddenStateIsTheLastOfAModelOneLayerShorter() throws IOException {
        int[] ids = paddedWithExclamationMarks();
        Path full = model.resolve("text_encoder_2");
        Path shorter = dir.resolve("text_encoder_2_two_layers");
        Files.createDirectories(shorter);
        ObjectNode config = (ObjectNode) JSON.readTree(full.resolve("config.json").toFile());
        config.put("num_hidden_layers", 2);
        JSON.writeValue(shorter.resolve("config.json").toFile(), config);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(full.resolve("model.safetensors"))) {
            for (String name : file.names()) {
                if (!name.startsWith("text_model.encoder.layers.2.")) {
                    tensors.put(name, file.tensor(name));
                }
            }
        }
        SafetensorsWriter.write(shorter.resolve("model.safetensors"), tensors);
        try (DjlTextEncoder three = DjlTextEncoder.open(full, Device.cpu());
             DjlTextEncoder two = DjlTextEncoder.open(shorter, Device.cpu())) {
            Tensor penultimate = three.encodeWithPooled(ids, 2).hiddenStates();
            Tensor lastOfTwo = two.encodeWithPooled(ids, 1).hiddenStates();
            assertArrayEquals(lastOfTwo.toArray(), penultimate.toArray(), 0f);
            // and the embeddings, hidden_states[0], are the same in both
            assertArrayEquals(two.encodeWithPooled(ids, 3).hiddenStates().toArray(),
                    three.encodeWithPooled(ids, 4).hiddenStates().toArray(), 0f);
        }
    }

    @Test
    void theFirstTextEncoderPoolsItsFinalStateUnprojected() {
        int[] ids = paddedWithExclamationMarks();
        try (DjlTextEncoder encoder = DjlTextEncoder.open(model.resolve("text_encoder"), Device.cpu())) {
            assertEquals(TEXT_ENCODER_WIDTH, encoder.pooledSize());
            PooledTextEncoding encoding = encoder.encodeWithPooled(ids, 2);
            float[] last = encoder.encode(ids).toArray();
            assertArrayEquals(Arrays.copyOfRange(last, 4 * TEXT_ENCODER_WIDTH, 5 * TEXT_ENCODER_WIDTH),
                    encoding.pooled().toArray(), 0f);
        }
    }

    @Test
    void thePoolingPositionFollowsEosTokenIdAsTransformersDoes() {
        int[] paddedWithEot = {BOS, 320, EOT, EOT, EOT};
        int[] paddedWithZeros = {BOS, 320, EOT, 0, 0};
        // legacy eos_token_id 2: the first largest id
        assertEquals(2, ClipTextModel.poolingIndex(paddedWithEot, 2));
        assertEquals(2, ClipTextModel.poolingIndex(paddedWithZeros, 2));
        // any other eos_token_id: its first position, or 0 when it does not occur
        assertEquals(2, ClipTextModel.poolingIndex(paddedWithZeros, EOT));
        assertEquals(1, ClipTextModel.poolingIndex(paddedWithZeros, 320));
        assertEquals(0, ClipTextModel.poolingIndex(paddedWithZeros, 7));
    }
}
