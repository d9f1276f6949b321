package dev.suppress.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.Suppressor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * What {@code GET /api/v1/model} says about the loaded model: the folder, backend and precision, and what the
 * diffusers configs tell (pipeline class, UNet sample size and context width, default image size, the latent
 * sides at which the UNet has cross-attention layers). The configs are read once; a folder without them (an ONNX
 * export without {@code config.json}s) gives {@code null} for what they would have said.
 */
final class ModelInfo {

    private ModelInfo() {
    }

    /**
     * @param folder     the model folder the suppressor was loaded from
     * @param suppressor the loaded model
     * @param defaultModel whether it is the CLI's built-in tiny model with random weights
     */
    static Map<String, Object> describe(Path folder, Suppressor suppressor, boolean defaultModel) {
        ObjectMapper mapper = new ObjectMapper();
        JsonNode index = readJson(mapper, folder.resolve("model_index.json"));
        JsonNode unet = readJson(mapper, folder.resolve("unet").resolve("config.json"));
        JsonNode vae = readJson(mapper, folder.resolve("vae").resolve("config.json"));

        Map<String, Object> json = new LinkedHashMap<>();
        json.put("folder", folder.toAbsolutePath().toString());
        json.put("builtInRandomModel", defaultModel);
        json.put("backend", suppressor.backendName());
        json.put("precision", suppressor.precision().label());
        json.put("pipeline", index != null && index.hasNonNull("_class_name") ? index.get("_class_name").asText()
                : null);
        Integer sampleSize = unet != null && unet.hasNonNull("sample_size") ? unet.get("sample_size").asInt() : null;
        json.put("unetSampleSize", sampleSize);
        json.put("crossAttentionDim", unet != null && unet.hasNonNull("cross_attention_dim")
                ? unet.get("cross_attention_dim").asInt() : null);
        Integer vaeScale = vae != null && vae.has("block_out_channels")
                ? 1 << (vae.get("block_out_channels").size() - 1) : null;
        json.put("defaultImageSize", sampleSize != null && vaeScale != null ? sampleSize * vaeScale : null);
        json.put("attentionResolutions", sampleSize != null ? attentionResolutions(unet, sampleSize) : null);
        return json;
    }

    /**
     * The latent sides (largest first) of the UNet levels with cross-attention: level {@code i} of
     * {@code down_block_types} is at {@code sample_size / 2^i}, the mid block at the deepest level.
     */
    static List<Integer> attentionResolutions(JsonNode unet, int sampleSize) {
        TreeSet<Integer> sides = new TreeSet<>();
        JsonNode down = unet.get("down_block_types");
        int levels = down != null ? down.size() : 0;
        for (int level = 0; level < levels; level++) {
            if (down.get(level).asText().contains("CrossAttn")) {
                sides.add(sampleSize >> level);
            }
        }
        JsonNode mid = unet.get("mid_block_type");
        // diffusers' default mid block (mid_block_type absent) is UNetMidBlock2DCrossAttn
        if (levels > 0 && (mid == null || mid.isNull() || mid.asText().contains("CrossAttn"))) {
            sides.add(sampleSize >> (levels - 1));
        }
        return new ArrayList<>(sides.descendingSet());
    }

    private static JsonNode readJson(ObjectMapper mapper, Path file) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            return mapper.readTree(file.toFile());
        } catch (IOException e) {
            // the backend read the same folder already; a config it did not need is only left out here
            return null;
        }
    }
}
