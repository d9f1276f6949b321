package dev.suppress.djl.weights;

import dev.suppress.core.io.SafetensorsFile;

import java.nio.file.Path;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * Where one model part's {@code config.json} and weights are: a part folder of a diffusers model (both in the
 * folder), or a configuration folder paired with a view over a single-file checkpoint.
 */
public final class PartSource {

    private final Path configFolder;
    private final Supplier<TensorSource> fullPrecision;
    private final Supplier<TensorSource> halfFirst;

    private PartSource(Path configFolder, Supplier<TensorSource> fullPrecision, Supplier<TensorSource> halfFirst) {
        this.configFolder = configFolder;
        this.fullPrecision = fullPrecision;
        this.halfFirst = halfFirst;
    }

    /** A diffusers part folder: its {@code config.json} and the weights file {@link WeightFiles} finds there. */
    public static PartSource folder(Path folder) {
        Objects.requireNonNull(folder, "folder");
        return new PartSource(folder, () -> TensorSource.of(SafetensorsFile.open(WeightFiles.find(folder, false))),
                () -> TensorSource.of(SafetensorsFile.open(WeightFiles.find(folder, true))));
    }

    /**
     * {@code configFolder/config.json} with weights from {@code weights}, which makes a new source on each call
     * (each is closed after loading).
     */
    public static PartSource of(Path configFolder, Supplier<TensorSource> weights) {
        Objects.requireNonNull(configFolder, "configFolder");
        Objects.requireNonNull(weights, "weights");
        return new PartSource(configFolder, weights, weights);
    }

    /** The folder holding {@code config.json}. */
    public Path configFolder() {
        return configFolder;
    }

    /**
     * Opens the weights (the caller closes them).
     *
     * @param preferHalf prefer a {@code .fp16} variant file where the source has one
     * @throws dev.suppress.core.io.ModelFormatException when there are no readable weights
     */
    public TensorSource openWeights(boolean preferHalf) {
        return preferHalf ? halfFirst.get() : fullPrecision.get();
    }

    @Override
    public String toString() {
        return "PartSource[" + configFolder + "]";
    }
}
