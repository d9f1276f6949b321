package dev.suppress.djl.weights;

import dev.suppress.core.io.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Finds the safetensors weights of one model part in a diffusers folder.
 *
 * <p>diffusers saves {@code diffusion_pytorch_model.safetensors}, transformers saves {@code model.safetensors}, and
 * half-precision downloads carry a {@code .fp16} variant; the first of these that exists is used, in this order:
 * {@link #STANDARD_NAMES}, or {@link #HALF_FIRST_NAMES} when the part computes in a half type (bf16 or fp16: the
 * variant is half the bytes to read and converting F16 to bf16 loses only what bf16 cannot hold anyway). The
 * chosen file is reported by the model that loads it.
 */
public final class WeightFiles {

    /** The file names tried, in order. */
    public static final List<String> STANDARD_NAMES = List.of(
            "diffusion_pytorch_model.safetensors",
            "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors",
            "model.fp16.safetensors");

    /** The file names tried, in order, for a part computing in bf16 or fp16. */
    public static final List<String> HALF_FIRST_NAMES = List.of(
            "diffusion_pytorch_model.fp16.safetensors",
            "model.fp16.safetensors",
            "diffusion_pytorch_model.safetensors",
            "model.safetensors");

    private WeightFiles() {
    }

    /**
     * The weights file of the part in {@code folder}.
     *
     * @throws ModelFormatException when the folder holds none of the standard names; the message lists what it holds
     *                              and explains {@code .bin} (pickle) and sharded weights, which are not read
     */
    public static Path find(Path folder) {
        return find(folder, false);
    }

    /**
     * The weights file of the part in {@code folder}, preferring the {@code .fp16} variant when {@code halfFirst}.
     *
     * @throws ModelFormatException as {@link #find(Path)}
     */
    public static Path find(Path folder, boolean halfFirst) {
        List<String> order = halfFirst ? HALF_FIRST_NAMES : STANDARD_NAMES;
        if (!Files.isDirectory(folder)) {
            throw new ModelFormatException(folder, "Missing model part folder '" + folder.getFileName() + "'");
        }
        for (String name : order) {
            Path candidate = folder.resolve(name);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        List<String> present = list(folder);
        StringBuilder message = new StringBuilder("No safetensors weights in '").append(folder.getFileName())
                .append("': expected one of ").append(STANDARD_NAMES).append(", found ").append(present);
        if (present.stream().anyMatch(name -> name.endsWith(".safetensors.index.json"))) {
            message.append("; sharded weights (*.safetensors.index.json) are not supported");
        }
        if (present.stream().anyMatch(name -> name.endsWith(".bin") || name.endsWith(".ckpt"))) {
            message.append("; PyTorch pickle weights (.bin/.ckpt) are not read, convert them to safetensors");
        }
        throw new ModelFormatException(folder, message.toString());
    }

    private static List<String> list(Path folder) {
        try (Stream<Path> files = Files.list(folder)) {
            List<String> names = new ArrayList<>();
            files.forEach(file -> names.add(file.getFileName().toString()));
            names.sort(null);
            return names;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list " + folder, e);
        }
    }
}
