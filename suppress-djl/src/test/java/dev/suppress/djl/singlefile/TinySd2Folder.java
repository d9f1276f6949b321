package dev.suppress.djl.singlefile;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.TestFolders;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** Test helper: the tiny SD 2.x-shaped model. */
final class TinySd2Folder {


    private TinySd2Folder() {
    }

    /**
     * A tiny SD 2.x-shaped diffusers folder made from the fixture's tiny SD 1.x folder: OpenCLIP's gelu, linear
     * transformer projections ({@code use_linear_projection}, the conv kernels' bytes as linear weights),
     * per-level head counts, v-prediction, and SD 2.x's tokenizer padding with "!".
     */
    static Path write(Path fixture, Path target) {
        try {
            TestFolders.copyTree(fixture, target);
            TestFolders.editJson(target.resolve("text_encoder/config.json"), json -> json.put("hidden_act", "gelu"));
            TestFolders.editJson(target.resolve("unet/config.json"), json -> {
                json.put("use_linear_projection", true);
                json.putArray("attention_head_dim").add(2).add(2).add(4).add(4);
            });
            TestFolders.editJson(target.resolve("scheduler/scheduler_config.json"),
                    json -> json.put("prediction_type", "v_prediction"));
            TestFolders.editJson(target.resolve("tokenizer/special_tokens_map.json"), json -> json.put("pad_token", "!"));
            TestFolders.editJson(target.resolve("tokenizer/tokenizer_config.json"), json -> json.put("pad_token", "!"));
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
}
