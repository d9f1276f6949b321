package dev.suppress.examples.cli;

import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import picocli.CommandLine.Option;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

/** The photo and how to invert it: the options {@code edit} and {@code invert} share. */
final class InversionOptions {

    @Option(names = "--image", required = true, paramLabel = "FILE",
            description = "The photo (PNG or JPEG); centre-cropped to a square and resized to the model's size.")
    Path image;

    @Option(names = "--inversion", paramLabel = "KIND", converter = Converters.InversionConverter.class,
            description = "nt: null-text inversion (default; needs the djl backend), npi: negative-prompt inversion "
                    + "(fast, any backend).")
    Inversion inversion;

    @Option(names = "--null-text-steps", paramLabel = "N",
            description = "Null-text inversion: at most N Adam steps per denoising step (default 10).")
    Integer nullTextSteps;

    /**
     * The photo.
     *
     * @throws IllegalArgumentException when the file does not exist
     */
    BufferedImage photo() {
        if (!Files.isRegularFile(image)) {
            throw new IllegalArgumentException("--image " + image + ": no such file");
        }
        return Images.read(image);
    }

    /** {@code --null-text-steps} over the reference's settings, or {@code null} when not given. */
    NullTextOptions nullText() {
        if (nullTextSteps == null) {
            return null;
        }
        NullTextOptions defaults = NullTextOptions.REFERENCE;
        return new NullTextOptions(nullTextSteps, defaults.earlyStopEpsilon(), defaults.baseLearningRate());
    }
}
