package dev.suppress.examples.cli;

import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** {@code suppress generate}: text to image, once as the model draws it and once with the words suppressed. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generates an image from a prompt twice from the same noise: as the model draws it, and with "
                + "the content of the --suppress words removed (ICLR 2024, \"Get What You Want, Not What You "
                + "Don't\").",
                "Writes original-suppressed.png, original.png, suppressed.png and cross-attention.png into --out."})
final class GenerateCommand extends SuppressCommand {

    /** The tensor {@code --initial-latent} reads. */
    static final String LATENT_TENSOR = "latent";

    @Option(names = "--initial-latent", paramLabel = "FILE",
            description = "Start from tensor 'latent' [1, 4, h, w] of this safetensors file instead of the seed's "
                    + "noise.")
    Path initialLatent;

    /**
     * The request the options describe.
     *
     * @throws IllegalArgumentException naming the bad option or file
     * @throws dev.suppress.core.io.ModelFormatException when {@code --initial-latent} is not a safetensors file
     */
    SuppressionRequest request() {
        SuppressionRequest.Builder builder = requestOptions.toBuilder();
        if (initialLatent != null) {
            builder.initialLatent(readLatent(initialLatent));
        }
        return builder.build();
    }

    private SuppressionRequest prepared;

    @Override
    Job prepare() {
        SuppressionRequest request = request();
        prepared = request;
        return (suppressor, listener) -> {
            SuppressionResult result = suppressor.generate(request, listener);
            return new Outcome(result, OutputFiles.generated(result),
                    result.hasOriginal() ? "original | suppressed" : "suppressed only");
        };
    }

    @Override
    java.util.List<String> warnings(dev.suppress.core.Suppressor suppressor) {
        return suppressor.check(prepared);
    }

    private static Tensor readLatent(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--initial-latent " + file + ": no such file");
        }
        try (SafetensorsFile latents = SafetensorsFile.open(file)) {
            if (!latents.contains(LATENT_TENSOR)) {
                throw new IllegalArgumentException("--initial-latent " + file + " has no tensor '" + LATENT_TENSOR
                        + "'; found " + latents.names());
            }
            return latents.tensor(LATENT_TENSOR);
        }
    }
}
