package dev.suppress.djl.singlefile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.UNetDescription.PredictionType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;

/**
 * A single-file Stable Diffusion checkpoint in the original LDM layout ({@code .safetensors}, as A1111, ComfyUI and
 * diffusers' {@code from_single_file} read it): its architecture, detected from keys and shapes
 * ({@link LdmArchitecture#detect}) or given, and its prediction type, which shapes cannot show.
 *
 * <p>{@link #prepare()} makes it loadable like a diffusers folder: it writes a small configuration folder
 * (configs, tokenizer and scheduler for the architecture, which ship with this library, or those of a diffusers
 * folder given as {@link Options#configFolder()}, as {@code from_single_file(config=…)}) plus
 * {@value #DESCRIPTOR}, which points at the checkpoint. The weights stay in the checkpoint: the DJL backend maps
 * them under their diffusers names in memory ({@link RenamedTensorSource}), without a converted copy.
 *
 * <pre>{@code
 * SingleFileCheckpoint checkpoint = SingleFileCheckpoint.inspect(Path.of("v1-5-pruned-emaonly.safetensors"),
 *         SingleFileCheckpoint.Options.DEFAULTS);
 * System.out.println(checkpoint.summary());
 * try (Suppressor suppressor = Suppressor.builder().modelFolder(checkpoint.prepare()).build()) { … }
 * }</pre>
 *
 * <p>Pickled checkpoints ({@code .ckpt}, {@code .pt}, {@code .pth}, {@code .bin}) are refused without being opened:
 * unpickling runs whatever code the file holds.
 *
 * <p>How the prediction type is chosen, first that applies: {@link Options#predictionType()}; the
 * {@code prediction_type} of the configuration folder's {@code scheduler/scheduler_config.json}; a same-name
 * {@code .yaml} (or {@code .yml}) beside the checkpoint, the LDM training config, whose
 * {@code parameterization: "v"} means v-prediction (absent: LDM's default {@code eps}); else the heuristic of
 * diffusers' {@code _legacy_load_scheduler}: SD 1.x is epsilon; SD 2.x is v-prediction (the 768 models) unless
 * the checkpoint's {@code global_step} is 875000 (SD 2.x base, 512, epsilon). SD 2.x base files rarely carry
 * {@code global_step}, so give them {@code --prediction-type epsilon}: a v-model run as epsilon (or the reverse)
 * draws grey mush, which is how a wrong guess shows.
 */
public final class SingleFileCheckpoint {

    /** The file in a prepared folder that names the checkpoint. */
    public static final String DESCRIPTOR = "single_file.json";

    /** PyTorch pickle extensions, refused unopened. */
    public static final List<String> PICKLE_EXTENSIONS = List.of(".ckpt", ".pt", ".pth", ".bin");

    /** {@code global_step} of the SD 2.x base checkpoints (diffusers' {@code _legacy_load_scheduler}). */
    static final long SD2_BASE_GLOBAL_STEP = 875000;

    static final String TEXT_ENCODER_CLIP = "clip";
    static final String TEXT_ENCODER_OPEN_CLIP = "open_clip";
    /** SDXL's two: CLIP under {@code conditioner.embedders.0.transformer.}, OpenCLIP under {@code …1.model.}. */
    static final String TEXT_ENCODERS_SDXL = "sdxl";

    private static final String RESOURCES = "/dev/suppress/djl/singlefile/";
    private static final List<String> CONFIG_FILES = List.of("model_index.json", "text_encoder/config.json",
            "unet/config.json", "vae/config.json", "scheduler/scheduler_config.json");
    /** SDXL's second text encoder's config, beside {@link #CONFIG_FILES}. */
    private static final String SDXL_CONFIG_FILE = "text_encoder_2/config.json";
    private static final List<String> TOKENIZER_CONFIGS = List.of("special_tokens_map.json", "tokenizer_config.json");
    private static final Pattern PARAMETERIZATION = Pattern.compile(
            "^\\s*parameterization\\s*:\\s*[\"']?([A-Za-z_]+)[\"']?\\s*(#.*)?$");
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * How to read a checkpoint; every field may be {@code null} (detect, or use the default).
     *
     * @param architecture   the architecture, overriding detection
     * @param predictionType the prediction type, overriding the config folder, the {@code .yaml} and the heuristic
     * @param configFolder   a diffusers-style folder whose {@code text_encoder/}, {@code unet/}, {@code vae/}
     *                       configs (and {@code scheduler/}, {@code tokenizer/} when present) describe the model:
     *                       how a non-standard architecture loads
     * @param cacheRoot      where {@link #prepare()} writes (default {@code $XDG_CACHE_HOME/suppress}, else
     *                       {@code ~/.cache/suppress}); the folder goes under {@code single-file/}
     */
    public record Options(LdmArchitecture architecture, PredictionType predictionType, Path configFolder,
                          Path cacheRoot) {

        /** Detect everything, standard configurations, the default cache. */
        public static final Options DEFAULTS = new Options(null, null, null, null);
    }

    private final Path file;
    private final Options options;
    private final LdmArchitecture architecture;
    private final String architectureSource;
    private final PredictionType predictionType;
    private final String predictionTypeSource;
    private final String textEncoder;
    private final int emaTensors;
    private final int otherIgnored;

    private SingleFileCheckpoint(Path file, Options options, LdmArchitecture architecture, String architectureSource,
                                 PredictionType predictionType, String predictionTypeSource, String textEncoder,
                                 int emaTensors, int otherIgnored) {
        this.file = file;
        this.options = options;
        this.architecture = architecture;
        this.architectureSource = architectureSource;
        this.predictionType = predictionType;
        this.predictionTypeSource = predictionTypeSource;
        this.textEncoder = textEncoder;
        this.emaTensors = emaTensors;
        this.otherIgnored = otherIgnored;
    }

    /** True when {@code path} names a file (not a folder), which {@code --model} then reads as a single file. */
    public static boolean isSingleFile(Path path) {
        return Files.isRegularFile(path);
    }

    /**
     * Reads the checkpoint's header (no tensor data), detects what it is, and chooses the prediction type.
     *
     * @throws ModelFormatException     when the file is a pickle, not safetensors, or not a supported model
     * @throws IllegalArgumentException when the options' configuration folder does not exist
     */
    public static SingleFileCheckpoint inspect(Path file, Options options) {
        refusePickle(file);
        if (options.configFolder() != null && !Files.isDirectory(options.configFolder())) {
            throw new IllegalArgumentException("Config folder " + options.configFolder() + " does not exist");
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Long globalStep = null;
        try (SafetensorsFile safetensors = openSafetensors(file)) {
            for (TensorInfo info : safetensors.infos().values()) {
                shapes.put(info.name(), info.shape());
            }
            if (safetensors.contains("global_step") && safetensors.info("global_step").elementCount() == 1) {
                globalStep = safetensors.longs("global_step")[0];
            }
        }
        LdmArchitecture architecture;
        String architectureSource;
        if (options.architecture() != null) {
            architecture = options.architecture();
            architectureSource = "given";
        } else {
            LdmArchitecture.Detection detection = LdmArchitecture.detect(file, shapes);
            architecture = detection.architecture();
            architectureSource = "detected: " + detection.reason();
        }
        String textEncoder = textEncoderKind(file, shapes, architecture);
        String[] prediction = predictionType(file, options, architecture, globalStep);
        int ema = 0;
        int other = 0;
        String vaePrefix = LdmKeyMapping.vaePrefix(shapes);
        List<String> read = textEncoderPrefixes(textEncoder);
        for (String key : shapes.keySet()) {
            if (key.startsWith("model_ema.")) {
                ema++;
            } else if (!key.startsWith(LdmKeyMapping.UNET_PREFIX) && read.stream().noneMatch(key::startsWith)
                    && (vaePrefix == null || !key.startsWith(vaePrefix))) {
                other++;
            }
        }
        return new SingleFileCheckpoint(file, options, architecture, architectureSource,
                prediction[0].equals("v_prediction") ? PredictionType.V_PREDICTION : PredictionType.EPSILON,
                prediction[1], textEncoder, ema, other);
    }

    private static SafetensorsFile openSafetensors(Path file) {
        try {
            return SafetensorsFile.open(file);
        } catch (ModelFormatException e) {
            String looksLike = sniffPickle(file);
            if (looksLike != null) {
                throw pickleRefusal(file, looksLike);
            }
            throw e;
        }
    }

    /**
     * Refuses {@code .ckpt}, {@code .pt}, {@code .pth} and {@code .bin} by name, before reading a byte.
     *
     * @throws ModelFormatException saying why and how to convert
     */
    static void refusePickle(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        for (String extension : PICKLE_EXTENSIONS) {
            if (name.endsWith(extension)) {
                throw pickleRefusal(file, "a PyTorch pickle (" + extension + ")");
            }
        }
    }

    /** What a non-safetensors file's first bytes look like: a zip (torch.save) or a raw pickle, else null. */
    private static String sniffPickle(Path file) {
        byte[] head = new byte[4];
        try (InputStream in = Files.newInputStream(file)) {
            if (in.readNBytes(head, 0, 4) < 2) {
                return null;
            }
        } catch (IOException e) {
            return null;
        }
        if (head[0] == 'P' && head[1] == 'K') {
            return "a zip archive, the format of torch.save (a PyTorch pickle)";
        }
        if ((head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5) {
            return "a Python pickle";
        }
        return null;
    }

    private static ModelFormatException pickleRefusal(Path file, String what) {
        String name = file.getFileName().toString();
        String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        return new ModelFormatException(file, "'" + name + "' is " + what + ". It is not read: unpickling runs "
                + "whatever code the file contains, so a downloaded pickle can take over the machine. Convert it "
                + "once to safetensors, in a throw-away environment if you do not trust its source: python -c "
                + "\"import torch, safetensors.torch as st; sd = torch.load('" + name + "', map_location='cpu', "
                + "weights_only=True); sd = sd.get('state_dict', sd); st.save_file({k: v.contiguous() for k, v in "
                + "sd.items() if isinstance(v, torch.Tensor)}, '" + stem + ".safetensors')\" (weights_only=True "
                + "refuses code; most hubs also offer a .safetensors download of the same model)");
    }

    /** The prefixes the text encoders of {@code kind} are read from. */
    static List<String> textEncoderPrefixes(String kind) {
        return switch (kind) {
            case TEXT_ENCODER_CLIP -> List.of(LdmKeyMapping.CLIP_PREFIX);
            case TEXT_ENCODER_OPEN_CLIP -> List.of(LdmKeyMapping.OPEN_CLIP_PREFIX);
            case TEXT_ENCODERS_SDXL -> List.of(LdmKeyMapping.SDXL_CLIP_PREFIX, LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX);
            default -> throw new IllegalArgumentException("Unknown text encoder kind " + kind);
        };
    }

    private static String textEncoderKind(Path file, Map<String, long[]> shapes, LdmArchitecture architecture) {
        if (architecture == LdmArchitecture.SDXL) {
            for (String prefix : textEncoderPrefixes(TEXT_ENCODERS_SDXL)) {
                if (shapes.keySet().stream().noneMatch(key -> key.startsWith(prefix))) {
                    boolean sd = shapes.keySet().stream().anyMatch(key -> key.startsWith("cond_stage_model."));
                    throw new ModelFormatException(file, "No SDXL base text encoder in the checkpoint: no tensor "
                            + "under '" + prefix + "'" + (sd ? " (it has a Stable Diffusion 1.x/2.x text encoder "
                            + "under 'cond_stage_model.': is --arch right?)" : " (SDXL base has CLIP under '"
                            + LdmKeyMapping.SDXL_CLIP_PREFIX + "' and OpenCLIP under '"
                            + LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX + "'; a UNet-only file needs them and the VAE too)"));
                }
            }
            return TEXT_ENCODERS_SDXL;
        }
        boolean clip = shapes.keySet().stream().anyMatch(key -> key.startsWith(LdmKeyMapping.CLIP_PREFIX));
        boolean openClip = shapes.keySet().stream().anyMatch(key -> key.startsWith(LdmKeyMapping.OPEN_CLIP_PREFIX));
        String wanted = architecture == LdmArchitecture.SD1 ? TEXT_ENCODER_CLIP : TEXT_ENCODER_OPEN_CLIP;
        if (wanted.equals(TEXT_ENCODER_CLIP) ? clip : openClip) {
            return wanted;
        }
        String expected = wanted.equals(TEXT_ENCODER_CLIP) ? LdmKeyMapping.CLIP_PREFIX : LdmKeyMapping.OPEN_CLIP_PREFIX;
        throw new ModelFormatException(file, "No " + architecture.title() + " text encoder in the checkpoint: no "
                + "tensor under '" + expected + "'" + (clip || openClip ? " (it has one under '"
                + (clip ? LdmKeyMapping.CLIP_PREFIX : LdmKeyMapping.OPEN_CLIP_PREFIX) + "': is --arch right?)"
                : " (a UNet-only file? it needs the text encoder and the VAE too)"));
    }

    /** {prediction_type, where it came from}. */
    private static String[] predictionType(Path file, Options options, LdmArchitecture architecture,
                                           Long globalStep) {
        if (options.predictionType() != null) {
            return new String[]{name(options.predictionType()), "given"};
        }
        if (options.configFolder() != null) {
            Path scheduler = options.configFolder().resolve("scheduler/scheduler_config.json");
            if (Files.isRegularFile(scheduler)) {
                JsonNode value = readJson(scheduler).get("prediction_type");
                String type = value == null || value.isNull() ? "epsilon" : value.asText();
                return new String[]{type, "from " + scheduler};
            }
        }
        Optional<Path> yaml = sameNameYaml(file);
        if (yaml.isPresent()) {
            String parameterization = parameterization(yaml.get());
            if (parameterization == null) {
                return new String[]{"epsilon", "from " + yaml.get().getFileName()
                        + " (no parameterization: LDM's default eps)"};
            }
            return switch (parameterization) {
                case "v" -> new String[]{"v_prediction", "from " + yaml.get().getFileName() + " (parameterization: v)"};
                case "eps" -> new String[]{"epsilon", "from " + yaml.get().getFileName() + " (parameterization: eps)"};
                default -> throw new ModelFormatException(yaml.get(), "Unsupported parameterization '"
                        + parameterization + "': expected eps or v");
            };
        }
        if (architecture == LdmArchitecture.SD1) {
            return new String[]{"epsilon", "heuristic: SD 1.x is trained for epsilon"};
        }
        if (architecture == LdmArchitecture.SDXL) {
            return new String[]{"epsilon", "heuristic: SDXL base is trained for epsilon (diffusers reads its "
                    + "published scheduler config); for a v-prediction fine-tune give --prediction-type v_prediction"};
        }
        if (globalStep != null && globalStep == SD2_BASE_GLOBAL_STEP) {
            return new String[]{"epsilon", "heuristic: global_step " + globalStep + " is SD 2.x base (512)"};
        }
        return new String[]{"v_prediction", "heuristic: SD 2.x defaults to the 768 v-prediction model (as "
                + "diffusers); for an SD 2.x base (512) file give --prediction-type epsilon"};
    }

    private static String name(PredictionType type) {
        return type == PredictionType.V_PREDICTION ? "v_prediction" : "epsilon";
    }

    /** {@code name.yaml} or {@code name.yml} beside {@code name.safetensors}. */
    static Optional<Path> sameNameYaml(Path file) {
        String name = file.getFileName().toString();
        String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        for (String extension : List.of(".yaml", ".yml")) {
            Path candidate = file.resolveSibling(stem + extension);
            if (Files.isRegularFile(candidate)) {
                return Optional.of(candidate);
            }
        }
        return Optional.empty();
    }

    /**
     * The {@code parameterization} value of an LDM yaml, read line by line (the only key used here; a YAML
     * library is not worth a dependency), or {@code null} when it has none.
     */
    static String parameterization(Path yaml) {
        List<String> lines;
        try {
            lines = Files.readAllLines(yaml, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + yaml, e);
        }
        for (String line : lines) {
            Matcher m = PARAMETERIZATION.matcher(line);
            if (m.matches()) {
                return m.group(1);
            }
        }
        return null;
    }

    /** The checkpoint. */
    public Path file() {
        return file;
    }

    /** The architecture it is loaded as. */
    public LdmArchitecture architecture() {
        return architecture;
    }

    /** "given", or which key and shape decided it. */
    public String architectureSource() {
        return architectureSource;
    }

    /** What its UNet predicts. */
    public PredictionType predictionType() {
        return predictionType;
    }

    /** "given", the file it came from, or the heuristic used. */
    public String predictionTypeSource() {
        return predictionTypeSource;
    }

    /** Tensors under {@code model_ema.} (EMA copies of the UNet), never read. */
    public int emaTensors() {
        return emaTensors;
    }

    /** One paragraph for the user: architecture, prediction type, where each came from, what is ignored. */
    public String summary() {
        return file.getFileName() + ": architecture " + architecture.id() + " (" + architecture.title() + "; "
                + architectureSource + "), prediction type " + name(predictionType) + " (" + predictionTypeSource
                + ")" + (options.configFolder() != null ? ", configs from " + options.configFolder() : "")
                + (emaTensors > 0 ? ", " + emaTensors + " EMA tensors (model_ema.) ignored" : "")
                + (otherIgnored > 0 ? ", " + otherIgnored + " tensors outside the UNet, VAE and text encoder "
                + "ignored" : "");
    }

    /**
     * The configuration folder of this checkpoint, written under the cache on first use (a complete folder for the
     * same checkpoint, size, modification time and choices is reused): a diffusers folder without weights plus
     * {@value #DESCRIPTOR}, which the DJL backend follows to the checkpoint.
     *
     * @return a folder for {@code Suppressor.builder().modelFolder(…)}
     * @throws UncheckedIOException when the cache cannot be written
     */
    public Path prepare() {
        Map<String, byte[]> files = folderContents();
        String digest = digest(files);
        String name = file.getFileName().toString();
        String stem = (name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name)
                .replaceAll("[^A-Za-z0-9._-]", "_");
        Path root = (options.cacheRoot() != null ? options.cacheRoot() : defaultCacheRoot()).resolve("single-file");
        Path folder = root.resolve(stem + "-" + digest.substring(0, 16));
        if (Files.isRegularFile(folder.resolve(DESCRIPTOR))) {
            return folder;
        }
        try {
            Files.createDirectories(root);
            Path temporary = Files.createTempDirectory(root, stem + ".partial-");
            try {
                // the descriptor last: a folder that has it is complete
                for (Map.Entry<String, byte[]> entry : files.entrySet()) {
                    Path target = temporary.resolve(entry.getKey());
                    Files.createDirectories(target.getParent());
                    Files.write(target, entry.getValue());
                }
                Files.write(temporary.resolve(DESCRIPTOR), descriptor());
                try {
                    Files.move(temporary, folder, StandardCopyOption.ATOMIC_MOVE);
                } catch (FileAlreadyExistsException | DirectoryNotEmptyException | AtomicMoveNotSupportedException e) {
                    if (!Files.isRegularFile(folder.resolve(DESCRIPTOR))) {
                        throw e;
                    }
                }
            } finally {
                deleteRecursively(temporary);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the configuration folder of " + file + " under " + root, e);
        }
        return folder;
    }

    private Map<String, byte[]> folderContents() {
        Map<String, byte[]> files = new LinkedHashMap<>();
        Path configs = options.configFolder();
        boolean sdxl = architecture == LdmArchitecture.SDXL;
        List<String> configFiles = new ArrayList<>(CONFIG_FILES);
        if (sdxl) {
            configFiles.add(SDXL_CONFIG_FILE);
        }
        for (String relative : configFiles) {
            byte[] bytes;
            if (configs != null && Files.isRegularFile(configs.resolve(relative))) {
                bytes = read(configs.resolve(relative));
            } else if (configs != null && !relative.startsWith("scheduler/") && !relative.equals("model_index.json")) {
                throw new ModelFormatException(configs, "The config folder has no " + relative + "; a config folder "
                        + "for a single file needs text_encoder/config.json, unet/config.json and vae/config.json"
                        + (sdxl ? ", and for SDXL " + SDXL_CONFIG_FILE : ""));
            } else {
                bytes = resource(architecture.id() + "/" + relative);
            }
            files.put(relative, patch(relative, bytes, configs != null && Files.isRegularFile(configs.resolve(relative))));
        }
        tokenizer(files, "tokenizer");
        if (sdxl) {
            // SDXL's tokenizer_2 is the same BPE, padding with "!"
            tokenizer(files, "tokenizer_2");
        }
        return files;
    }

    /**
     * The config folder's {@code name/} when it has vocab.json and merges.txt, else the architecture's shipped
     * tokenizer configs with the CLIP BPE that every Stable Diffusion tokenizer shares.
     */
    private void tokenizer(Map<String, byte[]> files, String name) {
        Path configs = options.configFolder();
        boolean own = configs != null && Files.isRegularFile(configs.resolve(name + "/vocab.json"))
                && Files.isRegularFile(configs.resolve(name + "/merges.txt"));
        if (own) {
            for (String file : List.of("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")) {
                if (Files.isRegularFile(configs.resolve(name + "/" + file))) {
                    files.put(name + "/" + file, read(configs.resolve(name + "/" + file)));
                }
            }
        } else {
            for (String file : TOKENIZER_CONFIGS) {
                files.put(name + "/" + file, resource(architecture.id() + "/" + name + "/" + file));
            }
            files.put(name + "/vocab.json", gunzip(resource("tokenizer/vocab.json.gz")));
            files.put(name + "/merges.txt", gunzip(resource("tokenizer/merges.txt.gz")));
        }
    }

    /**
     * The scheduler's {@code prediction_type} set to the chosen one; for a shipped SD 2.x config, the sample size
     * of the prediction type's model (768 for v-prediction, 512 for the epsilon base model).
     */
    private byte[] patch(String relative, byte[] bytes, boolean fromConfigFolder) {
        boolean scheduler = relative.equals("scheduler/scheduler_config.json");
        boolean sizes = !fromConfigFolder && architecture == LdmArchitecture.SD2
                && (relative.equals("unet/config.json") || relative.equals("vae/config.json"));
        if (!scheduler && !sizes) {
            return bytes;
        }
        try {
            ObjectNode json = (ObjectNode) JSON.readTree(bytes);
            boolean v = predictionType == PredictionType.V_PREDICTION;
            if (scheduler) {
                json.put("prediction_type", name(predictionType));
            } else if (relative.startsWith("unet/")) {
                json.put("sample_size", v ? 96 : 64);
            } else {
                json.put("sample_size", v ? 768 : 512);
            }
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(json);
        } catch (IOException | ClassCastException e) {
            throw new ModelFormatException((Path) null, relative + " is not a JSON object: " + e.getMessage());
        }
    }

    private byte[] descriptor() throws IOException {
        ObjectNode json = JSON.createObjectNode();
        json.put("checkpoint", file.toAbsolutePath().normalize().toString());
        json.put("size", Files.size(file));
        json.put("modified", Files.getLastModifiedTime(file).toMillis());
        json.put("architecture", architecture.id());
        json.put("architecture_source", architectureSource);
        json.put("text_encoder", textEncoder);
        json.put("prediction_type", name(predictionType));
        json.put("prediction_type_source", predictionTypeSource);
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(json);
    }

    private String digest(Map<String, byte[]> files) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(descriptor());
            for (Map.Entry<String, byte[]> entry : files.entrySet()) {
                sha.update(entry.getKey().getBytes(StandardCharsets.UTF_8));
                sha.update(entry.getValue());
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    /** {@code $XDG_CACHE_HOME/suppress}, else {@code ~/.cache/suppress}. */
    public static Path defaultCacheRoot() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("suppress");
    }

    /** True when {@code folder} was written by {@link #prepare()}. */
    public static boolean isPrepared(Path folder) {
        return Files.isRegularFile(folder.resolve(DESCRIPTOR));
    }

    static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file, "Not valid JSON: " + e.getMessage(), e);
        }
    }

    private static byte[] read(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    private static byte[] resource(String relative) {
        try (InputStream in = SingleFileCheckpoint.class.getResourceAsStream(RESOURCES + relative)) {
            if (in == null) {
                throw new IllegalStateException("Missing resource " + RESOURCES + relative + " in suppress-djl");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read resource " + RESOURCES + relative, e);
        }
    }

    private static byte[] gunzip(byte[] bytes) {
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(bytes))) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot unpack a tokenizer resource", e);
        }
    }

    private static void deleteRecursively(Path folder) throws IOException {
        if (!Files.exists(folder)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(folder)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    @Override
    public String toString() {
        return "SingleFileCheckpoint[" + file + ", " + architecture.id() + ", " + name(predictionType) + "]";
    }
}
