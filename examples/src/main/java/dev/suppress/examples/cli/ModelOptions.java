package dev.suppress.examples.cli;

import dev.suppress.core.Suppressor;
import dev.suppress.core.backend.Device;
import dev.suppress.examples.tiny.TinyModel;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** Which model to load and where to compute: the options of a {@link Suppressor.Builder}. */
final class ModelOptions {

    @Option(names = "--model", paramLabel = "DIR",
            description = "A Stable Diffusion 1.x/2.x folder: the diffusers layout for --backend djl, an ONNX export "
                    + "for --backend onnx. Default: a tiny built-in model with RANDOM weights (draws noise).")
    Path model;

    @Option(names = "--backend", paramLabel = "NAME", defaultValue = "djl", converter = Converters.BackendConverter.class,
            description = "djl (PyTorch through DJL, autograd ITO; default) or onnx (ONNX Runtime, finite-difference "
                    + "ITO).")
    String backend;

    @Option(names = "--device", paramLabel = "DEVICE", defaultValue = "cpu", converter = Converters.DeviceConverter.class,
            description = "cpu (default), gpu or gpu:N.")
    Device device;

    @Option(names = "--cpu-fallback", description = "Use the CPU when the requested GPU cannot be used.")
    boolean cpuFallback;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "A CLIP tokenizer folder (vocab.json, merges.txt), for ONNX exports that have none.")
    Path tokenizer;

    @Option(names = "--scheduler-config", paramLabel = "FILE",
            description = "A DDIM scheduler_config.json, for exports without one (default: the model's, else the "
                    + "reference's).")
    Path schedulerConfig;

    @Option(names = "--cache-dir", paramLabel = "DIR",
            description = "Where the built-in model is generated on first use (default ~/.cache/suppress).")
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

    /** Loads the model of {@code folder} with these options. */
    Suppressor open(Path folder) {
        Suppressor.Builder builder = Suppressor.builder()
                .modelFolder(folder)
                .backend(backend)
                .device(device)
                .allowCpuFallback(cpuFallback);
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
