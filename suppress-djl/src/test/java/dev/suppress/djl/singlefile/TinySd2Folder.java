package dev.suppress.djl.singlefile;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/** Test helper: the tiny SD 2.x-shaped model. */
final class TinySd2Folder {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TinySd2Folder() {
    }

    /**
     * A tiny SD 2.x-shaped diffusers folder made from the fixture's tiny SD 1.x folder: OpenCLIP's gelu, linear
     * transformer projections ({@code use_linear_projection}, the conv kernels' bytes as linear weights),
     * per-level head counts, v-prediction, and SD 2.x's tokenizer padding with "!".
     */
    static Path write(Path fixture, Path target) {
        try {
            copyTree(fixture, target);
            edit(target.resolve("text_encoder/config.json"), json -> json.put("hidden_act", "gelu"));
            edit(target.resolve("unet/config.json"), json -> {
                json.put("use_linear_projection", true);
                json.putArray("attention_head_dim").add(2).add(2).add(4).add(4);
            });
            edit(target.resolve("scheduler/scheduler_config.json"), json -> json.put("prediction_type", "v_prediction"));
            edit(target.resolve("tokenizer/special_tokens_map.json"), json -> json.put("pad_token", "!"));
            edit(target.resolve("tokenizer/tokenizer_config.json"), json -> json.put("pad_token", "!"));
            Path unetFile = target.resolve("unet/diffusion_pytorch_model.safetensors");
            Map<String, Tensor> unet = new LinkedHashMap<>();
            try (SafetensorsFile file = SafetensorsFile.open(unetFile)) {
                for (String key : file.names()) {
                    Tensor value = file.tensor(key);
                    if ((key.endsWith("proj_in.weight") || key.endsWith("proj_out.weight")) && value.rank() == 4) {
                        value = value.reshape(value.dim(0), value.dim(1));
                    }
                    unet.put(key, value);
                }
            }
            Files.delete(unetFile);
            SafetensorsWriter.write(unetFile, unet);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path path : paths.toList()) {
                Path target = to.resolve(from.relativize(path).toString());
                if (Files.isDirectory(path)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(path, target);
                    target.toFile().setWritable(true);
                }
            }
        }
    }

    private static void edit(Path file, java.util.function.Consumer<ObjectNode> change) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(file.toFile());
        change.accept(json);
        Files.delete(file);
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), json);
    }
}
