package dev.suppress.djl.weights;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.djl.nn.TorchRuntime;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Loading one model part (CLIP, UNet, a VAE half) from its diffusers folder the same way for all: parse
 * {@code config.json}, build the modules against the folder's safetensors weights in a fresh NDManager, report every
 * missing or mis-shaped parameter at once, and cap the manager (STYLE.md §4: any later attachment to it is a leak,
 * so it throws); or list the parameters a configuration needs without any file.
 */
public final class PartLoading {

    private PartLoading() {
    }

    /** Builds a part's modules from its configuration and a loader that hands out its parameters. */
    @FunctionalInterface
    public interface Builder<C, T> {
        /**
         * @param config  the parsed configuration
         * @param loader  hands out parameters by key and shape
         * @param weights the manager the parameters live in (the part owns it)
         */
        T build(C config, WeightLoader loader, NDManager weights);
    }

    /**
     * Loads a part.
     *
     * @param readConfig      parses {@code folder/config.json}
     * @param modelName       what the part is, for messages ("CLIPTextModel")
     * @param foreignPrefixes key prefixes present in the file but belonging to another part (the other VAE half)
     * @throws dev.suppress.core.io.ModelFormatException when the configuration or the weights do not fit
     */
    public static <C, T> T load(Path folder, ai.djl.Device device, Function<ConfigJson, C> readConfig,
                                String modelName, List<String> foreignPrefixes, Builder<C, T> build) {
        return load(folder, device, DataType.FLOAT32, readConfig, modelName, foreignPrefixes, build);
    }

    /**
     * Loads a part with its parameters in {@code computeType}, from the {@code .fp16} variant file when the type is
     * a half type and the folder has one.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the configuration or the weights do not fit
     */
    public static <C, T> T load(Path folder, ai.djl.Device device, DataType computeType,
                                Function<ConfigJson, C> readConfig, String modelName, List<String> foreignPrefixes,
                                Builder<C, T> build) {
        return load(PartSource.folder(folder), device, computeType, readConfig, modelName, foreignPrefixes, build);
    }

    /**
     * Loads a part from its configuration folder and weights source, with its parameters in {@code computeType}.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the configuration or the weights do not fit
     */
    public static <C, T> T load(PartSource source, ai.djl.Device device, DataType computeType,
                                Function<ConfigJson, C> readConfig, String modelName, List<String> foreignPrefixes,
                                Builder<C, T> build) {
        C config = readConfig.apply(ConfigJson.read(source.configFolder()));
        NDManager weights = TorchRuntime.newManager(device);
        try (WeightLoader loader = WeightLoader.open(source.openWeights(computeType != DataType.FLOAT32), weights,
                computeType)) {
            T part = build.build(config, loader, weights);
            loader.finish(modelName + " that " + source.configFolder().getFileName() + "/config.json describes",
                    foreignPrefixes);
            weights.cap();
            // each tensor was read through its own MappedByteBuffer, and Java 17 unmaps one only when it is
            // collected: until then the pages of a converted tensor (F16 read into float32, say) count as resident
            // next to libtorch's copy (before same-type tensors aliased the mapping, SD 1.5's F32 UNet measured
            // VmRSS 6.7 GB after loading 3.4 GB of weights). Collect the unreferenced ones now.
            System.gc();
            return part;
        } catch (RuntimeException | Error e) {
            weights.close();
            throw e;
        }
    }

    /**
     * The key and shape of every parameter of the part {@code folder/config.json} describes, in the order the
     * builder asks for them, found by running it against a {@linkplain WeightLoader#recording recording loader}.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    public static <C> Map<String, long[]> parameterShapes(Path folder, Function<ConfigJson, C> readConfig,
                                                          Builder<C, ?> build) {
        C config = readConfig.apply(ConfigJson.read(folder));
        try (NDManager standIns = TorchRuntime.newManager(ai.djl.Device.cpu());
             WeightLoader recorder = WeightLoader.recording(standIns)) {
            build.build(config, recorder, standIns);
            return recorder.requestedShapes();
        }
    }
}
