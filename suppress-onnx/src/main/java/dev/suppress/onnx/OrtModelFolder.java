package dev.suppress.onnx;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.schedule.SchedulerConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The diffusers/optimum ONNX layout of a Stable Diffusion model: {@code text_encoder/model.onnx},
 * {@code unet/model.onnx} (usually with external data beside it), {@code vae_decoder/model.onnx} and, for real
 * images, {@code vae_encoder/model.onnx}; optimum also writes each part's {@code config.json} beside it and a
 * {@code scheduler/scheduler_config.json}. The diffusers conversion script writes no configs, so every value read
 * from one has a documented default.
 */
final class OrtModelFolder {

    /** The SD 1.x VAE scaling factor, used when no VAE config says otherwise (ALGORITHM.md §5). */
    static final double DEFAULT_VAE_SCALING_FACTOR = 0.18215;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MODEL_FILE = "model.onnx";

    private final Path root;

    private OrtModelFolder(Path root) {
        this.root = root;
    }

    /**
     * @throws ModelFormatException when the folder or one of the required parts is missing; the message lists
     *                              what the folder holds
     */
    static OrtModelFolder of(Path root) {
        if (!Files.isDirectory(root)) {
            throw new ModelFormatException(root, "ONNX model folder not found");
        }
        if (Files.isDirectory(root.resolve("text_encoder_2"))) {
            throw new ModelFormatException(root, "This is an SDXL model (it has text_encoder_2/): the ONNX Runtime "
                    + "backend runs Stable Diffusion 1.x/2.x only; SDXL runs on --backend djl from its diffusers "
                    + "folder");
        }
        OrtModelFolder folder = new OrtModelFolder(root);
        List<String> missing = new ArrayList<>();
        for (String part : List.of(OrtTextEncoder.COMPONENT, OrtDenoiser.COMPONENT, OrtLatentDecoder.COMPONENT)) {
            if (!Files.isRegularFile(folder.model(part))) {
                missing.add(part + "/" + MODEL_FILE);
            }
        }
        if (!missing.isEmpty()) {
            throw new ModelFormatException(root, "Not a diffusers/optimum ONNX model folder: missing " + missing
                    + "; the folder holds " + listing(root));
        }
        return folder;
    }

    /** The folder. */
    Path root() {
        return root;
    }

    /** {@code <part>/model.onnx}. */
    Path model(String part) {
        return root.resolve(part).resolve(MODEL_FILE);
    }

    /** True when the folder has {@code <part>/model.onnx}. */
    boolean has(String part) {
        return Files.isRegularFile(model(part));
    }

    /**
     * The VAE scaling factor: {@code scaling_factor} of the first of {@code vae_decoder/config.json},
     * {@code vae_encoder/config.json} and {@code vae/config.json} that exists (optimum copies the VAE config into
     * both ONNX folders), else {@value #DEFAULT_VAE_SCALING_FACTOR}.
     */
    double vaeScalingFactor() {
        for (String part : List.of(OrtLatentDecoder.COMPONENT, OrtLatentEncoder.COMPONENT, "vae")) {
            Optional<JsonNode> config = config(part + "/config.json");
            if (config.isPresent() && config.get().has("scaling_factor")) {
                JsonNode value = config.get().get("scaling_factor");
                if (!value.isNumber() || !(value.doubleValue() > 0)) {
                    throw new ModelFormatException(root.resolve(part).resolve("config.json"),
                            "scaling_factor must be a positive number, found " + value);
                }
                return value.doubleValue();
            }
        }
        return DEFAULT_VAE_SCALING_FACTOR;
    }

    /** {@code unet/config.json}, when present (optimum writes it; the diffusers script does not). */
    Optional<JsonNode> unetConfig() {
        return config(OrtDenoiser.COMPONENT + "/config.json");
    }

    /** {@code prediction_type} of {@code scheduler/scheduler_config.json}; epsilon when absent. */
    UNetDescription.PredictionType predictionType() {
        return SchedulerConfig.predictionTypeOfModelFolder(root);
    }

    private Optional<JsonNode> config(String relative) {
        Path file = root.resolve(relative);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(file, "Expected a JSON object");
            }
            return Optional.of(node);
        } catch (IOException e) {
            throw new ModelFormatException(file, "Unreadable JSON: " + e.getMessage(), e);
        }
    }

    private static String listing(Path root) {
        try (Stream<Path> entries = Files.list(root)) {
            List<String> names = entries.map(p -> p.getFileName() + (Files.isDirectory(p) ? "/" : "")).sorted()
                    .toList();
            return names.isEmpty() ? "nothing" : names.toString();
        } catch (IOException e) {
            return "(unlistable: " + e.getMessage() + ")";
        }
    }
}
