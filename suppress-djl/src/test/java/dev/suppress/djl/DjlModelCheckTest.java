package dev.suppress.djl;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A model folder is checked whole, from configs and headers, before any weight is loaded. */
class DjlModelCheckTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    @Test
    void theFixtureModelPassesAndItsWeightBytesAreTheFileSpans() {
        DjlModelCheck.Report report = DjlModelCheck.check(Fixtures.tinyModel(), DataType.FLOAT32, DataType.FLOAT32);
        // the fixture's files are all F32, so the float32 weights take exactly their data sections
        assertEquals(Map.of("text_encoder", dataBytes("text_encoder/model.safetensors"),
                "unet", dataBytes("unet/diffusion_pytorch_model.safetensors"),
                "vae", dataBytes("vae/diffusion_pytorch_model.safetensors")), report.weightBytes());
        DjlModelCheck.Report half = DjlModelCheck.check(Fixtures.tinyModel(), DataType.FLOAT16, DataType.FLOAT32);
        assertEquals(report.weightBytes().get("unet") / 2, half.weightBytes().get("unet"));
        assertEquals(report.weightBytes().get("vae"), half.weightBytes().get("vae"));
    }

    private static long dataBytes(String relative) {
        try (SafetensorsFile file = SafetensorsFile.open(Fixtures.tinyModel().resolve(relative))) {
            return file.infos().values().stream().mapToLong(TensorInfo::byteLength).sum();
        }
    }

    @Test
    void everyProblemOfEveryPartIsListedAtOnce() throws IOException {
        Path model = copyOfFixtureModel();
        // unet: two tensors gone, one extra
        rewrite(model.resolve("unet/diffusion_pytorch_model.safetensors"), tensors -> {
            tensors.remove("conv_in.bias");
            tensors.remove("down_blocks.0.attentions.0.proj_in.weight");
            tensors.put("stray.weight", Tensor.zeros(3));
        });
        // text encoder: a config number that contradicts the weights
        editConfig(model.resolve("text_encoder/config.json"), config -> config.put("intermediate_size", 100));
        // vae: one tensor of the wrong shape
        rewrite(model.resolve("vae/diffusion_pytorch_model.safetensors"),
                tensors -> tensors.put("decoder.conv_in.bias", Tensor.zeros(7)));

        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> DjlModelCheck.check(model, DataType.FLOAT32, DataType.FLOAT32));
        String message = e.getMessage();
        for (String part : new String[]{"3 problems", "unet/diffusion_pytorch_model.safetensors",
                "2 missing tensors", "'conv_in.bias'", "'down_blocks.0.attentions.0.proj_in.weight'",
                "1 unexpected tensor: 'stray.weight' [3]", "text_encoder/model.safetensors", "fc1.weight",
                "the config implies [100, 80]", "vae/diffusion_pytorch_model.safetensors",
                "'decoder.conv_in.bias' is [7]"}) {
            assertTrue(message.contains(part), () -> "'" + part + "' missing from: " + message);
        }
    }

    @Test
    void unsupportedArchitecturesAreNamed() throws IOException {
        Path model = copyOfFixtureModel();
        editConfig(model.resolve("model_index.json"), config -> config.put("_class_name", "FluxPipeline"));
        editConfig(model.resolve("unet/config.json"), config -> config.put("_class_name", "SD3Transformer2DModel"));
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> DjlModelCheck.check(model, DataType.FLOAT32, DataType.FLOAT32));
        assertTrue(e.getMessage().contains("FluxPipeline") && e.getMessage().contains("SD3Transformer2DModel")
                && e.getMessage().contains("UNet2DConditionModel"), e.getMessage());
    }

    @Test
    void aMissingPartIsNamedWithTheOthersChecked() throws IOException {
        Path model = copyOfFixtureModel();
        Files.delete(model.resolve("vae/diffusion_pytorch_model.safetensors"));
        editConfig(model.resolve("unet/config.json"), config -> config.put("cross_attention_dim", 64));
        ModelFormatException e = assertThrows(ModelFormatException.class,
                () -> DjlModelCheck.check(model, DataType.FLOAT32, DataType.FLOAT32));
        assertTrue(e.getMessage().contains("2 problems") && e.getMessage().contains("No safetensors weights in 'vae'")
                && e.getMessage().contains("attn2.to_k.weight"), e.getMessage());
    }

    private Path copyOfFixtureModel() throws IOException {
        Path source = Fixtures.tinyModel();
        Path target = temp.resolve("model");
        try (Stream<Path> files = Files.walk(source)) {
            for (Path file : files.toList()) {
                Path copy = target.resolve(source.relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(copy);
                } else {
                    Files.copy(file, copy);
                    copy.toFile().setWritable(true);
                }
            }
        }
        return target;
    }

    private static void rewrite(Path file, Consumer<Map<String, Tensor>> change) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            for (String name : weights.names()) {
                tensors.put(name, weights.tensor(name));
            }
        }
        change.accept(tensors);
        SafetensorsWriter.write(file, tensors);
    }

    private static void editConfig(Path file, Consumer<ObjectNode> change) throws IOException {
        ObjectNode config = (ObjectNode) JSON.readTree(file.toFile());
        change.accept(config);
        Files.writeString(file, JSON.writeValueAsString(config));
    }
}
