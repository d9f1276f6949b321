package dev.suppress.djl.weights;

import dev.suppress.core.io.ModelFormatException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Which safetensors file of a model part is read. */
class WeightFilesTest {

    @TempDir
    Path dir;

    @Test
    void prefersFullPrecisionStandardNamesOverHalfPrecisionVariants() throws IOException {
        Files.createFile(dir.resolve("model.safetensors"));
        Files.createFile(dir.resolve("diffusion_pytorch_model.fp16.safetensors"));
        assertEquals(dir.resolve("model.safetensors"), WeightFiles.find(dir));
        Files.createFile(dir.resolve("diffusion_pytorch_model.safetensors"));
        assertEquals(dir.resolve("diffusion_pytorch_model.safetensors"), WeightFiles.find(dir));
    }

    @Test
    void usesTheHalfPrecisionVariantWhenItIsAllThereIs() throws IOException {
        Files.createFile(dir.resolve("diffusion_pytorch_model.fp16.safetensors"));
        assertEquals(dir.resolve("diffusion_pytorch_model.fp16.safetensors"), WeightFiles.find(dir));
    }

    @Test
    void explainsPickleWeightsAndListsWhatTheFolderHolds() throws IOException {
        Files.createFile(dir.resolve("diffusion_pytorch_model.bin"));
        Files.createFile(dir.resolve("config.json"));
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> WeightFiles.find(dir));
        assertEquals("No safetensors weights in '" + dir.getFileName() + "': expected one of "
                + WeightFiles.STANDARD_NAMES + ", found [config.json, diffusion_pytorch_model.bin]; PyTorch pickle "
                + "weights (.bin/.ckpt) are not read, convert them to safetensors (in " + dir + ")",
                error.getMessage());
    }
}
