package dev.suppress.djl.clip;

import ai.djl.Device;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** transformers CLIPTextModel on the tiny fixture model vs {@code components/text_encoder.safetensors}. */
class DjlClipTextModelParityTest {

    /** float32 in both; only the order of float additions in matmul/layer norm differs from the reference. */
    private static final Tolerance LAST_HIDDEN_STATE = new Tolerance(1e-4, 1e-5,
            "float32 vs float32 reference, different reduction order");

    private static DjlTextEncoder encoder;
    private static SafetensorsFile golden;

    @BeforeAll
    static void open() {
        encoder = DjlTextEncoder.open(Fixtures.tinyModel().resolve("text_encoder"), Device.cpu());
        golden = Fixtures.open("components/text_encoder.safetensors");
    }

    @AfterAll
    static void close() {
        encoder.close();
        golden.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void matchesTheReferenceLastHiddenState(int prompt) {
        long[] ids = golden.longs("input_ids_" + prompt);
        int[] tokenIds = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            tokenIds[i] = Math.toIntExact(ids[i]);
        }
        Tensor actual = encoder.encode(tokenIds);
        TensorAssertions.assertClose("last_hidden_state_" + prompt, golden.tensor("last_hidden_state_" + prompt),
                actual, LAST_HIDDEN_STATE);
    }

    @Test
    void acceptsTheSavedPositionIdsBufferOfOlderTransformers(@TempDir Path dir) throws IOException {
        Path tiny = Fixtures.tinyModel().resolve("text_encoder");
        Path folder = Files.createDirectories(dir.resolve("text_encoder"));
        Files.copy(tiny.resolve("config.json"), folder.resolve("config.json"));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(tiny.resolve("model.safetensors"))) {
            for (String name : file.names()) {
                tensors.put(name, file.tensor(name));
            }
        }
        float[] positions = new float[77];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i;
        }
        tensors.put("text_model.embeddings.position_ids", Tensor.of(positions, 1, 77));
        SafetensorsWriter.write(folder.resolve("model.safetensors"), tensors);
        int[] ids = new int[77];
        ids[0] = 49406;
        try (DjlTextEncoder withBuffer = DjlTextEncoder.open(folder, Device.cpu())) {
            assertEquals(encoder.encode(ids), withBuffer.encode(ids));
        }
    }

    @Test
    void reportsTheShapeOfTheModel() {
        assertEquals(80, encoder.hiddenSize());
        assertEquals(77, encoder.maxLength());
        assertEquals("model.safetensors", encoder.weightsFile().getFileName().toString());
    }

    @Test
    void rejectsAWrongLengthOrAnIdOutsideTheVocabulary() {
        IllegalArgumentException length = assertThrows(IllegalArgumentException.class, () -> encoder.encode(new int[5]));
        assertEquals("Expected 77 token ids (padded), got 5", length.getMessage());
        int[] ids = new int[77];
        ids[3] = 49408;
        IllegalArgumentException id = assertThrows(IllegalArgumentException.class, () -> encoder.encode(ids));
        assertEquals("Token id 49408 at position 3 is outside the vocabulary [0, 49408)", id.getMessage());
    }
}
