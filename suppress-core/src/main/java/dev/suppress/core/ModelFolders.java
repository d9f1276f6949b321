package dev.suppress.core;

import dev.suppress.core.io.ModelFormatException;

import dev.suppress.core.schedule.SchedulerConfig;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where the backend-neutral parts of a model folder live: the tokenizer and the scheduler configuration, in a
 * diffusers folder or beside ONNX exports (optimum's layout has the same {@code tokenizer/} and {@code scheduler/}).
 */
final class ModelFolders {

    private ModelFolders() {
    }

    /** {@code tokenizer/} of the folder. */
    static Path tokenizerFolder(Path modelFolder) {
        Path tokenizer = modelFolder.resolve("tokenizer");
        if (!Files.isDirectory(tokenizer)) {
            throw new ModelFormatException(modelFolder, "No tokenizer/ folder (vocab.json and merges.txt) in the "
                    + "model folder; diffusers and optimum ONNX layouts have one, otherwise name it with "
                    + "Suppressor.Builder.tokenizerFolder");
        }
        return tokenizer;
    }

    /**
     * The DDIM configuration from {@code scheduler/scheduler_config.json}, or the reference's configuration
     * (ALGORITHM.md §5) when the folder has none.
     */
    static SchedulerConfig schedulerConfig(Path modelFolder) {
        Path file = modelFolder.resolve(SchedulerConfig.FILE_IN_MODEL_FOLDER);
        return Files.isRegularFile(file) ? SchedulerConfig.read(file) : SchedulerConfig.suppressEotReference();
    }
}
