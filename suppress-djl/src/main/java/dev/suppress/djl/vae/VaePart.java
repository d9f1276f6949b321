package dev.suppress.djl.vae;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.djl.weights.PartLoading;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * One half of diffusers' {@code AutoencoderKL} loaded on its own (the decoder with {@code post_quant_conv}, or the
 * encoder with {@code quant_conv}) from the shared {@code vae/} weights file, with its own capped NDManager: a
 * text-to-image run never holds the encoder.
 *
 * @param config  the parsed {@code vae/config.json}
 * @param weights the manager holding this half's parameters (owned; closed by the seam class)
 * @param file    the weights file that was read
 * @param computeType the type the weights are held and the half computes in
 * @param modules the modules built
 */
record VaePart<T>(AutoencoderKLConfig config, NDManager weights, Path file, DataType computeType, T modules) {

    /**
     * @param modelName       what the half is, for messages
     * @param foreignPrefixes the other half's key prefixes, present in the file but not loaded here
     * @param build           builds the modules from the loader
     * @throws dev.suppress.core.io.ModelFormatException when the configuration or the weights do not fit
     */
    static <T> VaePart<T> load(PartSource folder, ai.djl.Device device, DataType computeType, String modelName,
                               List<String> foreignPrefixes, BiFunction<WeightLoader, AutoencoderKLConfig, T> build) {
        return PartLoading.load(folder, device, computeType, AutoencoderKLConfig::read,
                modelName + " of the AutoencoderKL",
                foreignPrefixes, (config, loader, weights) -> new VaePart<>(config, weights, loader.file(),
                        loader.computeType(), build.apply(loader, config)));
    }

    /**
     * The key and shape of every parameter of one half, in the order {@code build} asks for them.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    static Map<String, long[]> parameterShapes(Path folder, BiFunction<WeightLoader, AutoencoderKLConfig, ?> build) {
        return PartLoading.parameterShapes(folder, AutoencoderKLConfig::read,
                (config, loader, weights) -> build.apply(loader, config));
    }
}
