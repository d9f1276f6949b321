package dev.suppress.examples.cli;

import dev.suppress.core.InversionRequest;
import dev.suppress.core.Suppressor;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.inversion.SavedInversion;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code suppress invert}: a photo's inversion only, saved for {@code edit --inversion-file}. */
@Command(name = "invert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Inverts a photo into the model (null-text or negative-prompt inversion) without editing it, "
                + "and saves the inversion, so that edits of the photo with different words or suppression options "
                + "skip that work: pass the file to 'edit --inversion-file'.",
                "The edit must use the same model, --prompt, --inversion, --null-text-steps, --steps, --guidance, "
                        + "--size and precision; it refuses the file otherwise, naming what differs."})
final class InvertCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    InversionOptions inversionOptions;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT",
            description = "The prompt that describes the photo (the edit's --prompt).")
    String prompt;

    @Option(names = "--steps", paramLabel = "N", description = "DDIM steps (default 50).")
    Integer steps;

    @Option(names = "--guidance", paramLabel = "G", description = "Classifier-free guidance scale (default 7.5).")
    Double guidance;

    @Option(names = "--size", paramLabel = "PIXELS",
            description = "Side of the square image, a multiple of 8; default: the model's (512 for SD 1.x).")
    Integer imageSize;

    @Option(names = "--width", paramLabel = "PIXELS",
            description = "Image width; inversion works on squares, so it must equal --height. Not with --size.")
    Integer width;

    @Option(names = "--height", paramLabel = "PIXELS",
            description = "Image height; inversion works on squares, so it must equal --width. Not with --size.")
    Integer height;

    @Option(names = "--out", required = true, paramLabel = "FILE",
            description = "The inversion file to write (safetensors: 'inverted', 'unconditional.<step>' and the "
                    + "fingerprint of what it was made from).")
    Path out;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    /**
     * The request the options describe.
     *
     * @throws IllegalArgumentException naming the bad option or file
     */
    InversionRequest request() {
        InversionRequest.Builder builder = InversionRequest.builder(inversionOptions.photo(), prompt);
        if (inversionOptions.inversion != null) {
            builder.inversion(inversionOptions.inversion);
        }
        NullTextOptions nullText = inversionOptions.nullText();
        if (nullText != null) {
            builder.nullText(nullText);
        }
        if (steps != null) {
            builder.steps(steps);
        }
        if (guidance != null) {
            builder.guidanceScale(guidance);
        }
        RequestOptions.applySize(imageSize, width, height, builder::imageSize, builder::width, builder::height);
        return builder.build();
    }

    @Override
    public Integer call() {
        long started = System.nanoTime();
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        InversionRequest request = request();
        Path parent = out.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the output folder " + parent, e);
        }
        Path folder = modelOptions.modelFolder();
        if (modelOptions.usesDefaultModel()) {
            stderr.println("No --model given: using the built-in tiny model in " + folder + " (RANDOM weights).");
        }
        SavedInversion inversion;
        try (Suppressor suppressor = modelOptions.open(folder, null)) {
            stderr.printf(Locale.ROOT, "loaded %s (%s on %s, %s)%n", folder, suppressor.backendName(),
                    modelOptions.device, suppressor.precision().label());
            stderr.flush();
            inversion = suppressor.invert(request, new ConsoleProgress(stderr));
        }
        inversion.write(out);
        stdout.println("inversion: " + out.toAbsolutePath() + " (" + inversion.method() + ", tensors 'inverted' and "
                + inversion.unconditionals().size() + " 'unconditional.<step>'; pass it to edit --inversion-file)");
        stdout.println("model: " + folder.toAbsolutePath());
        stdout.printf(Locale.ROOT, "wall time: %.1f s%n", ConsoleProgress.seconds(System.nanoTime() - started));
        stdout.flush();
        return 0;
    }
}
