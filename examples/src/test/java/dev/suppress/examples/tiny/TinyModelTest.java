package dev.suppress.examples.tiny;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The built-in random model: reproducible to the byte, and the fixture model's architecture. */
class TinyModelTest {

    private static final List<String> WEIGHT_FILES = List.of(
            "text_encoder/model.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors");

    private static final List<String> CONFIG_FILES = List.of(
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "unet/config.json",
            "vae/config.json");

    /**
     * Relative error allowed on a standard deviation (or a ratio of two) estimated from 4096 normal values: one sigma
     * is 1.1% (1.6% for a ratio).
     */
    private static final double SAMPLING = 0.06;

    @TempDir
    static Path dir;

    private static Path model;

    @BeforeAll
    static void generate() {
        model = dir.resolve("first");
        TinyModel.write(model);
    }

    @Test
    void writesTheSameBytesEveryTime() throws IOException {
        Path second = dir.resolve("second");
        TinyModel.write(second);
        List<String> files = relativeFiles(model);
        assertEquals(files, relativeFiles(second));
        assertTrue(files.containsAll(WEIGHT_FILES), "files: " + files);
        for (String file : files) {
            assertEquals(-1L, Files.mismatch(model.resolve(file), second.resolve(file)), file + " differs");
        }
    }

    @Test
    void weightsHaveTheFixtureModelsParameterNamesAndShapes() {
        for (String file : WEIGHT_FILES) {
            assertEquals(shapes(Fixtures.tinyModel().resolve(file)), shapes(model.resolve(file)), file);
        }
    }

    @Test
    void configurationsAreTheFixtureModels() throws IOException {
        ObjectMapper json = new ObjectMapper();
        for (String file : CONFIG_FILES) {
            JsonNode expected = json.readTree(Fixtures.tinyModel().resolve(file).toFile());
            // written by transformers' save_pretrained; says which version wrote it, nothing about the model
            ((ObjectNode) expected).remove("transformers_version");
            assertEquals(expected, json.readTree(model.resolve(file).toFile()), file);
        }
    }

    @Test
    void weightsFollowTheInitialisationAndAttentionIsSharpened() {
        try (SafetensorsFile unet = SafetensorsFile.open(model.resolve(WEIGHT_FILES.get(1)))) {
            // self-attention: query, key and value all read the 64 channels, so only the sharpening separates them
            String block = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.";
            double query = standardDeviation(unet.floats(block + "to_q.weight"));
            double key = standardDeviation(unet.floats(block + "to_k.weight"));
            double value = standardDeviation(unet.floats(block + "to_v.weight"));
            // 4096 values each: the sample standard deviations are within a few percent of the intended ones
            assertEquals(RandomWeights.ATTENTION_SHARPENING, query / value,
                    RandomWeights.ATTENTION_SHARPENING * SAMPLING);
            assertEquals(RandomWeights.ATTENTION_SHARPENING, key / value,
                    RandomWeights.ATTENTION_SHARPENING * SAMPLING);
            assertEquals(1 / Math.sqrt(3 * 64), value, SAMPLING * value);
            float[] gain = unet.floats(block.replace("attn1.", "norm1.weight"));
            assertTrue(allEqual(gain, 1f), "LayerNorm gains are 1");
        }
    }

    @Test
    void ensureGeneratesOnceAndReusesACompleteModel() throws IOException {
        Path cache = dir.resolve("cache");
        Path folder = TinyModel.ensure(cache);
        assertEquals(cache.resolve(TinyModel.NAME), folder);
        assertTrue(TinyModel.isComplete(folder));
        Path sentinel = Files.writeString(folder.resolve("sentinel"), "kept while the model is complete");

        assertEquals(folder, TinyModel.ensure(cache));
        assertTrue(Files.exists(sentinel), "a complete model is not regenerated");

        Files.delete(folder.resolve(TinyModel.COMPLETE_MARKER));
        assertEquals(folder, TinyModel.ensure(cache));
        assertFalse(Files.exists(sentinel), "an incomplete model is replaced");
        assertTrue(TinyModel.isComplete(folder));
        try (Stream<Path> entries = Files.list(cache)) {
            assertEquals(List.of(folder), entries.toList(), "no staging folder is left behind");
        }
    }

    private static List<String> relativeFiles(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            return paths.filter(Files::isRegularFile).map(path -> root.relativize(path).toString()).sorted().toList();
        }
    }

    private static Map<String, String> shapes(Path file) {
        Map<String, String> shapes = new TreeMap<>();
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            for (Map.Entry<String, TensorInfo> entry : weights.infos().entrySet()) {
                shapes.put(entry.getKey(), entry.getValue().dtype() + Arrays.toString(entry.getValue().shape()));
            }
        }
        return shapes;
    }

    private static double standardDeviation(float[] values) {
        double sum = 0;
        double squares = 0;
        for (float value : values) {
            sum += value;
            squares += (double) value * value;
        }
        double mean = sum / values.length;
        return Math.sqrt(squares / values.length - mean * mean);
    }

    private static boolean allEqual(float[] values, float expected) {
        for (float value : values) {
            if (value != expected) {
                return false;
            }
        }
        return true;
    }
}
