package dev.suppress.examples.cli;

import dev.suppress.core.Mode;
import dev.suppress.core.Suppressor;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.djl.singlefile.LdmArchitecture;
import dev.suppress.djl.singlefile.SingleFileCheckpoint;
import dev.suppress.examples.tiny.TinyModel;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/** Which model to load and where to compute: the options of a {@link Suppressor.Builder}. */
final class ModelOptions {

    @Option(names = "--model", paramLabel = "DIR|FILE",
            description = "A Stable Diffusion 1.x/2.x or SDXL base folder: the diffusers layout for --backend djl, an ONNX export "
                    + "for --backend onnx; or (djl) a single-file LDM checkpoint (.safetensors, as A1111 and "
                    + "ComfyUI use). Default: a tiny built-in model with RANDOM weights (draws noise).")
    Path model;

    @Option(names = "--arch", paramLabel = "ARCH",
            description = "For a single-file --model: sd1, sd2 or sdxl, instead of detecting it from the tensors.")
    String architecture;

    @Option(names = "--prediction-type", paramLabel = "TYPE",
            description = "For a single-file --model: epsilon or v_prediction (default: the --config folder's "
                    + "scheduler, a same-name .yaml beside the file, else SD 1.x and SDXL epsilon, SD 2.x "
                    + "v_prediction; SD 2.x base 512 files need epsilon).")
    String predictionType;

    @Option(names = "--config", paramLabel = "DIR",
            description = "For a single-file --model: a diffusers-style folder whose text_encoder/, unet/ and vae/ "
                    + "config.json (SDXL: text_encoder_2/ too; and scheduler/, tokenizer/ if present) describe it, for non-standard models.")
    Path config;

    /** What was read from a single-file --model, for the user; {@code null} for folders. */
    String singleFileSummary;

    @Option(names = "--backend", paramLabel = "NAME", defaultValue = "djl", converter = Converters.BackendConverter.class,
            description = "djl (PyTorch through DJL, autograd ITO; default) or onnx (ONNX Runtime, finite-difference "
                    + "ITO).")
    String backend;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu", converter = Converters.DeviceConverter.class,
            description = "cpu (default), gpu or gpu:N.")
    Device device;

    @Option(names = "--cpu-fallback", description = "Use the CPU when the requested GPU cannot be used.")
    boolean cpuFallback;

    @Option(names = "--precision", paramLabel = "TYPE", defaultValue = "auto",
            converter = Converters.PrecisionConverter.class,
            description = "The networks' floating-point type: fp32, bf16, fp16 or auto (default: fp32 in --mode "
                    + "reference; otherwise fp16 on a GPU, bf16 on a CPU with native bf16 (avx512_bf16 or AMX), "
                    + "fp32 on other CPUs). bf16 is autocast's: convolutions, linear layers and attention in bf16, "
                    + "the rest fp32. The scheduler, SWR, the ITO loss and the optimised embedding stay fp32. The djl "
                    + "backend refuses fp16 on a CPU; the onnx backend computes in the export's type.")
    Precision precision;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "A CLIP tokenizer folder (vocab.json, merges.txt), for ONNX exports that have none.")
    Path tokenizer;

    @Option(names = "--scheduler-config", paramLabel = "FILE",
            description = "A DDIM scheduler_config.json, for exports without one (default: the model's, else the "
                    + "reference's).")
    Path schedulerConfig;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Where the built-in model is generated on first use, and single-file checkpoints get their "
                    + "config folders (default ~/.cache/suppress).")
    Path cacheDir;

    /** True when no {@code --model} was given and the built-in random model will be used. */
    boolean usesDefaultModel() {
        return model == null;
    }

    /**
     * The model folder: {@code --model}, or the built-in random model, generated into the cache on first use.
     *
     * @throws IllegalArgumentException when a given folder or file does not exist, or the built-in model is asked
     *                                  of the ONNX backend
     */
    Path modelFolder() {
        requireFolder("--tokenizer", tokenizer);
        if (schedulerConfig != null && !Files.isRegularFile(schedulerConfig)) {
            throw new IllegalArgumentException("--scheduler-config " + schedulerConfig + ": no such file");
        }
        if (model != null && SingleFileCheckpoint.isSingleFile(model)) {
            return singleFile();
        }
        if (architecture != null || predictionType != null || config != null) {
            throw new IllegalArgumentException("--arch, --prediction-type and --config apply to a single-file "
                    + "--model (a .safetensors checkpoint)" + (model == null ? "" : "; " + model + " is a folder"));
        }
        if (model != null) {
            requireFolder("--model", model);
            return model;
        }
        if (!backend.equals("djl")) {
            throw new IllegalArgumentException("The built-in model is a diffusers folder for --backend djl; with "
                    + "--backend " + backend + " give --model, the folder of an ONNX export");
        }
        return TinyModel.ensure(cacheDir != null ? cacheDir : TinyModel.defaultCacheRoot());
    }

    /** Reads the single-file checkpoint {@code --model} names and prepares its configuration folder. */
    private Path singleFile() {
        if (!backend.equals("djl")) {
            throw new IllegalArgumentException("--model " + model + " is a single-file checkpoint, which --backend "
                    + "djl reads; --backend " + backend + " needs a folder");
        }
        requireFolder("--config", config);
        UNetDescription.PredictionType prediction = null;
        if (predictionType != null) {
            prediction = switch (predictionType.trim().toLowerCase(Locale.ROOT)) {
                case "epsilon", "eps" -> UNetDescription.PredictionType.EPSILON;
                case "v_prediction", "v" -> UNetDescription.PredictionType.V_PREDICTION;
                default -> throw new IllegalArgumentException("--prediction-type '" + predictionType
                        + "': expected epsilon or v_prediction");
            };
        }
        LdmArchitecture arch;
        try {
            arch = architecture == null ? null : LdmArchitecture.parse(architecture);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--arch: " + e.getMessage(), e);
        }
        SingleFileCheckpoint checkpoint = SingleFileCheckpoint.inspect(model, new SingleFileCheckpoint.Options(arch,
                prediction, config, cacheDir != null ? cacheDir : SingleFileCheckpoint.defaultCacheRoot()));
        singleFileSummary = checkpoint.summary();
        return checkpoint.prepare();
    }

    /**
     * The precision to ask the backend for: {@code --precision}, with {@code auto} meaning fp32 in reference mode
     * (the mode that reproduces the reference's numbers). An explicit half precision in reference mode is kept: it
     * is the user's choice, and {@link SuppressCommand} warns that the numbers will not be the reference's.
     */
    Precision precisionFor(Mode mode) {
        return precision == Precision.AUTO && mode == Mode.REFERENCE ? Precision.FP32 : precision;
    }

    /** Loads the model of {@code folder} with these options, for a run in {@code mode} ({@code null}: the default). */
    Suppressor open(Path folder, Mode mode) {
        Suppressor.Builder builder = Suppressor.builder()
                .modelFolder(folder)
                .backend(backend)
                .device(device)
                .allowCpuFallback(cpuFallback)
                .precision(precisionFor(mode));
        if (tokenizer != null) {
            builder.tokenizerFolder(tokenizer);
        }
        if (schedulerConfig != null) {
            builder.schedulerConfig(schedulerConfig);
        }
        return builder.build();
    }

    private static void requireFolder(String option, Path folder) {
        if (folder != null && !Files.isDirectory(folder)) {
            throw new IllegalArgumentException(option + " " + folder + ": no such folder");
        }
    }
}
