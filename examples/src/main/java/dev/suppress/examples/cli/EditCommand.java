package dev.suppress.examples.cli;

import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;

/** {@code suppress edit}: a real photo, inverted, then regenerated with the content of some words suppressed. */
@Command(name = "edit", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Edits a photo: inverts it into the model (null-text or negative-prompt inversion), then "
                + "regenerates it with the content of the --suppress words removed. The prompt should describe the "
                + "photo.",
                "Writes input-reconstruction-suppressed.png, input.png, reconstruction.png, suppressed.png, "
                        + "vae-reconstruction.png and cross-attention.png into --out."})
final class EditCommand extends SuppressCommand {

    static final String SIDE_BY_SIDE = "input-reconstruction-suppressed.png";

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
     * The request the options describe.
     *
     * @throws IllegalArgumentException naming the bad option or file
     */
    ImageEditRequest request() {
        if (!Files.isRegularFile(image)) {
            throw new IllegalArgumentException("--image " + image + ": no such file");
        }
        BufferedImage photo = Images.read(image);
        ImageEditRequest.Builder builder = ImageEditRequest.builder(photo, requestOptions.prompt)
                .suppression(requestOptions::applyTo);
        if (inversion != null) {
            builder.inversion(inversion);
        }
        if (nullTextSteps != null) {
            NullTextOptions defaults = NullTextOptions.REFERENCE;
            builder.nullText(new NullTextOptions(nullTextSteps, defaults.earlyStopEpsilon(),
                    defaults.baseLearningRate()));
        }
        return builder.build();
    }

    @Override
    Job prepare() {
        ImageEditRequest request = request();
        return (suppressor, listener) -> {
            ImageEditResult result = suppressor.edit(request, listener);
            LinkedHashMap<String, BufferedImage> images = new LinkedHashMap<>();
            images.put(SIDE_BY_SIDE, result.sideBySide());
            images.put("input.png", result.inputImage());
            images.put("reconstruction.png", result.reconstruction());
            images.put("suppressed.png", result.suppressed());
            images.put("vae-reconstruction.png", Images.toImage(result.vaeReconstruction()));
            return new Outcome(result.suppression(), images, "input | reconstruction | suppressed");
        };
    }
}
