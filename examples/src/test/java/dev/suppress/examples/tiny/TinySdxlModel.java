package dev.suppress.examples.tiny;

import java.nio.file.Path;

/**
 * A tiny SDXL-shaped folder for the command-line tests, written by {@link SyntheticModel} from the configurations
 * in this package's test resources ({@code tiny-sdxl/}: two text encoders of widths 16 and 32, a three-level UNet
 * whose first level has no cross-attention, {@code text_time} conditioning, the tiny model's VAE with SDXL's
 * scaling factor), so that it runs exactly the code of {@code make-model --arch sdxl}.
 */
public final class TinySdxlModel {

    private TinySdxlModel() {
    }

    /** Writes the folder (F32 weights) into {@code folder}, which must not exist or be empty. */
    public static Path write(Path folder) {
        return SyntheticModel.ensure(folder, "tiny-sdxl", SyntheticModel.WeightType.F32, false, file -> { });
    }
}
