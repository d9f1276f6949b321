package dev.suppress.djl;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.Suppressor;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What an SDXL folder must hold beyond an SD one, and what is refused by name. */
class SdxlFolderCheckTest {

    @TempDir
    Path dir;

    @Test
    void aSecondTokenizerWithTheSameBpeInAnotherFormattingLoads() throws IOException {
        Path folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("sdxl"));
        // the same vocabulary pretty-printed in reverse order, and the merges with a trailing blank line
        ObjectMapper json = new ObjectMapper();
        ObjectNode vocab = (ObjectNode) json.readTree(folder.resolve("tokenizer_2/vocab.json").toFile());
        List<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> entries = new ArrayList<>();
        for (Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = vocab.fields(); it.hasNext(); ) {
            entries.add(it.next());
        }
        Collections.reverse(entries);
        ObjectNode reversed = json.createObjectNode();
        entries.forEach(entry -> reversed.set(entry.getKey(), entry.getValue()));
        json.writerWithDefaultPrettyPrinter().writeValue(folder.resolve("tokenizer_2/vocab.json").toFile(), reversed);
        List<String> merges = Files.readAllLines(folder.resolve("tokenizer_2/merges.txt"));
        List<String> padded = new ArrayList<>(merges);
        padded.add("");
        Files.write(folder.resolve("tokenizer_2/merges.txt"), padded);
        try (Suppressor suppressor = Suppressor.builder().backend("djl").modelFolder(folder).build()) {
            assertEquals(64, suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").steps(2).itoIterations(0).imageSize(64).build()).suppressed().getWidth());
        }
    }

    @Test
    void aMissingOrDifferentSecondTokenizerIsNamed() throws IOException {
        Path folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("missing"));
        Files.delete(folder.resolve("tokenizer_2/merges.txt"));
        ModelFormatException missing = assertThrows(ModelFormatException.class,
                () -> Suppressor.builder().backend("djl").modelFolder(folder).build());
        assertTrue(missing.getMessage().contains("tokenizer_2/merges.txt"), missing.getMessage());

        Path other = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("other"));
        List<String> merges = new ArrayList<>(Files.readAllLines(other.resolve("tokenizer_2/merges.txt")));
        merges.remove(merges.size() - 1);
        Files.write(other.resolve("tokenizer_2/merges.txt"), merges);
        ModelFormatException different = assertThrows(ModelFormatException.class,
                () -> Suppressor.builder().backend("djl").modelFolder(other).build());
        assertTrue(different.getMessage().contains("tokenizer_2's vocabulary or merges differ from tokenizer's"),
                different.getMessage());
    }

    @Test
    void anSdxlRefinerIsRefusedByItsPipelineClass() throws IOException {
        Path folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("refiner"));
        TestFolders.editJson(folder.resolve("model_index.json"),
                index -> index.put("_class_name", "StableDiffusionXLImg2ImgPipeline"));
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> Suppressor.builder().backend("djl").modelFolder(folder).build());
        assertTrue(error.getMessage().contains("model_index.json names StableDiffusionXLImg2ImgPipeline"),
                error.getMessage());
    }
}
