package dev.suppress.djl;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.io.SafetensorsDType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.core.validation.MemoryBudget;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import dev.suppress.djl.vae.DjlLatentEncoder;
import dev.suppress.djl.weights.WeightFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Checks a whole diffusers model folder before any weight is loaded: the architecture each part's config names,
 * every tensor that each {@code config.json} implies against the safetensors headers (missing, extra, mis-shaped
 * and non-float tensors of every part, listed in one {@link ModelFormatException}; a config whose numbers
 * contradict its weights shows up as mis-shaped tensors), and the native memory the weights will take at the
 * compute precision against what the machine has ({@link MemoryBudget}).
 *
 * <p>It reads configs and headers only: the parameter lists come from the parts' own constructors run against a
 * recording loader (stand-ins that allocate nothing), so they cannot drift from what loading asks for.
 */
public final class DjlModelCheck {

    /** How many names each kind of problem lists per part before summarising. */
    private static final int LISTED = 12;

    /** Diffusers pipelines whose denoiser is not a UNet2DConditionModel: named rather than half-loaded. */
    private static final List<String> UNSUPPORTED_PIPELINES = List.of("StableDiffusion3", "Flux", "PixArt",
            "Kandinsky", "Wuerstchen", "StableCascade", "AuraFlow", "Sana", "HunyuanDiT", "Lumina", "CogView",
            "IFPipeline", "StableDiffusionUpscale", "StableUnCLIP", "StableDiffusionXLImg2Img",
            "StableDiffusionXLInpaint", "StableDiffusionXLInstructPix2Pix");

    private static final ObjectMapper JSON = new ObjectMapper();

    private DjlModelCheck() {
    }

    /** What the check found: the weight bytes per part at the compute precision. */
    public record Report(Map<String, Long> weightBytes) {

        public Report {
            weightBytes = Map.copyOf(weightBytes);
        }

        /** All parts' weights, in bytes. */
        public long totalWeightBytes() {
            return weightBytes.values().stream().mapToLong(Long::longValue).sum();
        }
    }

    /**
     * Checks the folder, then the memory the weights need.
     *
     * @param folder    the model folder
     * @param precision the resolved precision (for the message)
     * @param networks  the text encoder's and the UNet's compute type
     * @param vaeType   the VAE's compute type
     * @throws ModelFormatException listing every problem of every part
     * @throws dev.suppress.core.validation.InsufficientMemoryException when the weights cannot fit
     */
    public static Report require(Path folder, Precision precision, DataType networks, DataType vaeType) {
        Report report = check(folder, networks, vaeType);
        StringBuilder breakdown = new StringBuilder();
        report.weightBytes().forEach((part, bytes) -> breakdown.append(breakdown.length() == 0 ? "" : " + ")
                .append(part).append(' ').append(MemoryBudget.gib(bytes)));
        MemoryBudget.requireNative("Loading " + folder + " in " + precision.label(), report.totalWeightBytes(),
                "weights: " + breakdown);
        return report;
    }

    /**
     * Checks the folder without the memory comparison.
     *
     * @throws ModelFormatException listing every problem of every part
     */
    public static Report check(Path folder, DataType networks, DataType vaeType) {
        List<String> problems = new ArrayList<>();
        checkPipeline(folder, problems);
        Map<String, Long> bytes = new LinkedHashMap<>();
        Path textEncoder = folder.resolve("text_encoder");
        checkPart(textEncoder, "CLIPTextModel", List.of("CLIPTextModel", "CLIPTextModelWithProjection"), networks,
                DjlTextEncoder::parameterShapes, bytes, problems);
        Path textEncoder2 = folder.resolve("text_encoder_2");
        if (Files.isDirectory(textEncoder2)) {
            // SDXL's second encoder, OpenCLIP ViT-bigG with its projection
            checkPart(textEncoder2, "CLIPTextModelWithProjection", List.of("CLIPTextModelWithProjection"), networks,
                    DjlTextEncoder::parameterShapes, bytes, problems);
        }
        checkPart(folder.resolve("unet"), "UNet2DConditionModel", List.of("UNet2DConditionModel"), networks,
                DjlDenoiser::parameterShapes, bytes, problems);
        checkPart(folder.resolve("vae"), "AutoencoderKL", List.of("AutoencoderKL"), vaeType, DjlModelCheck::vaeShapes,
                bytes, problems);
        if (!problems.isEmpty()) {
            throw new ModelFormatException(folder, "The model folder cannot be loaded, " + problems.size()
                    + (problems.size() == 1 ? " problem: " : " problems: ") + String.join("; ", problems));
        }
        return new Report(bytes);
    }

    private static void checkPipeline(Path folder, List<String> problems) {
        Path index = folder.resolve("model_index.json");
        JsonNode root = readJson(index, problems);
        if (root == null) {
            return;
        }
        String pipeline = root.path("_class_name").asText("");
        for (String unsupported : UNSUPPORTED_PIPELINES) {
            if (pipeline.startsWith(unsupported)) {
                problems.add("model_index.json names " + pipeline + ", an architecture this backend does not run "
                        + "(it runs Stable Diffusion 1.x/2.x and SDXL base: StableDiffusionPipeline or StableDiffusionXLPipeline "
                        + "with a UNet2DConditionModel)");
            }
        }
    }

    private static JsonNode readJson(Path file, List<String> problems) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try {
            JsonNode root = JSON.readTree(file.toFile());
            return root != null && root.isObject() ? root : null;
        } catch (IOException e) {
            problems.add(file.getParent().getFileName() + "/" + file.getFileName() + " is not valid JSON: "
                    + e.getMessage());
            return null;
        }
    }

    private static void checkPart(Path partFolder, String modelName, List<String> classNames, DataType computeType,
                                  Function<Path, Map<String, long[]>> parameterShapes, Map<String, Long> bytes,
                                  List<String> problems) {
        String part = partFolder.getFileName().toString();
        JsonNode config = readJson(partFolder.resolve("config.json"), problems);
        if (config != null) {
            String className = config.path("_class_name").asText("");
            JsonNode architectures = config.path("architectures");
            if (className.isEmpty() && architectures.isArray() && !architectures.isEmpty()) {
                className = architectures.get(0).asText("");
            }
            if (!className.isEmpty() && !classNames.contains(className)) {
                problems.add(part + "/config.json names " + className + "; this backend implements " + String.join(
                        " or ", classNames) + " there");
                return;
            }
        }
        Map<String, long[]> expected;
        Path file;
        try {
            expected = parameterShapes.apply(partFolder);
            file = WeightFiles.find(partFolder, computeType != DataType.FLOAT32);
        } catch (ModelFormatException e) {
            problems.add(part + ": " + e.getMessage());
            return;
        }
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            compare(part + "/" + file.getFileName(), modelName, expected, weights, problems);
        } catch (ModelFormatException e) {
            problems.add(part + ": " + e.getMessage());
            return;
        }
        long elements = 0;
        for (long[] shape : expected.values()) {
            elements += Arrays.stream(shape).reduce(1, Math::multiplyExact);
        }
        bytes.put(part, elements * (computeType == DataType.FLOAT32 ? 4 : 2));
    }

    private static Map<String, long[]> vaeShapes(Path vaeFolder) {
        Map<String, long[]> shapes = new LinkedHashMap<>(DjlLatentDecoder.parameterShapes(vaeFolder));
        if (DjlLatentEncoder.isPresent(vaeFolder)) {
            shapes.putAll(DjlLatentEncoder.parameterShapes(vaeFolder));
        }
        return shapes;
    }

    private static void compare(String where, String modelName, Map<String, long[]> expected,
                                SafetensorsFile weights, List<String> problems) {
        Map<String, TensorInfo> present = new LinkedHashMap<>();
        weights.infos().forEach((name, info) -> present.put(legacyVaeName(name), info));
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        List<String> nonFloat = new ArrayList<>();
        for (Map.Entry<String, long[]> entry : expected.entrySet()) {
            TensorInfo info = present.remove(entry.getKey());
            if (info == null) {
                missing.add("'" + entry.getKey() + "' " + Arrays.toString(entry.getValue()));
            } else if (!Arrays.equals(info.shape(), entry.getValue())) {
                misShaped.add("'" + entry.getKey() + "' is " + Arrays.toString(info.shape()) + ", the config implies "
                        + Arrays.toString(entry.getValue()));
            } else if (!isFloat(info.dtype())) {
                nonFloat.add("'" + entry.getKey() + "' is " + info.dtype());
            }
        }
        List<String> extra = new ArrayList<>();
        present.forEach((name, info) -> {
            if (!name.endsWith("embeddings.position_ids")) {
                extra.add("'" + name + "' " + Arrays.toString(info.shape()));
            }
        });
        if (missing.isEmpty() && misShaped.isEmpty() && nonFloat.isEmpty() && extra.isEmpty()) {
            return;
        }
        StringBuilder message = new StringBuilder(where).append(" does not hold the ").append(modelName)
                .append(" its config.json describes (").append(weights.names().size()).append(" tensors in the file, ")
                .append(expected.size()).append(" expected)");
        append(message, missing, "missing tensor", "missing tensors");
        append(message, misShaped, "tensor of the wrong shape", "tensors of the wrong shape");
        append(message, nonFloat, "tensor of a non-float dtype", "tensors of a non-float dtype");
        append(message, extra, "unexpected tensor", "unexpected tensors");
        problems.add(message.toString());
    }

    private static boolean isFloat(SafetensorsDType dtype) {
        return dtype == SafetensorsDType.F32 || dtype == SafetensorsDType.F16 || dtype == SafetensorsDType.BF16
                || dtype == SafetensorsDType.F64;
    }

    /** Old diffusers VAE attention keys ({@code query}, {@code key}, {@code value}, {@code proj_attn}) as loading reads them. */
    private static String legacyVaeName(String name) {
        if (!name.contains(".attentions.")) {
            return name;
        }
        return name.replace(".query.", ".to_q.").replace(".key.", ".to_k.").replace(".value.", ".to_v.")
                .replace(".proj_attn.", ".to_out.0.");
    }

    private static void append(StringBuilder message, List<String> problems, String one, String several) {
        if (problems.isEmpty()) {
            return;
        }
        message.append("; ").append(problems.size()).append(' ').append(problems.size() == 1 ? one : several)
                .append(": ").append(String.join(", ", problems.subList(0, Math.min(LISTED, problems.size()))));
        if (problems.size() > LISTED) {
            message.append(", ... (").append(problems.size() - LISTED).append(" more)");
        }
    }
}
