package dev.suppress.examples.cli;

import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.inversion.SavedInversion;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;

/** {@code suppress edit}: a real photo, inverted, then regenerated with the content of some words suppressed. */
@Command(name = "edit", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Edits a photo: inverts it into the model (null-text or negative-prompt inversion), then "
                + "regenerates it with the content of the --suppress words removed. The prompt should describe the "
                + "photo.",
                "Writes input-reconstruction-suppressed.png, input.png, reconstruction.png, suppressed.png, "
                        + "vae-reconstruction.png and cross-attention.png into --out.",
                "--save-latents FILE also holds the inversion ('inverted', 'unconditional.<step>'), so that a later "
                        + "edit can reuse it with --inversion-file FILE."})
final class EditCommand extends SuppressCommand {

    static final String SIDE_BY_SIDE = "input-reconstruction-suppressed.png";

    @Mixin
    InversionOptions inversionOptions;

    @Option(names = "--inversion-file", paramLabel = "FILE",
            description = "Reuse the inversion in this file (from 'suppress invert --out FILE' or an earlier "
                    + "'edit --save-latents FILE') instead of inverting the photo again: the same images without the "
                    + "inversion's UNet work. It must have been made on the same model for the same photo, prompt, "
                    + "--inversion, --null-text-steps, --steps, --guidance, --size and precision; --inversion "
                    + "defaults to the file's.")
    Path inversionFile;

    /**
     * The request the options describe.
     *
     * @throws IllegalArgumentException naming the bad option or file
     * @throws dev.suppress.core.io.ModelFormatException when {@code --inversion-file} is not an inversion file
     */
    ImageEditRequest request() {
        BufferedImage photo = inversionOptions.photo();
        ImageEditRequest.Builder builder = ImageEditRequest.builder(photo, requestOptions.prompt)
                .suppression(requestOptions::applyTo);
        Inversion inversion = inversionOptions.inversion;
        if (inversionFile != null) {
            if (!Files.isRegularFile(inversionFile)) {
                throw new IllegalArgumentException("--inversion-file " + inversionFile + ": no such file");
            }
            SavedInversion saved = SavedInversion.read(inversionFile);
            builder.inversion(saved);
            if (inversion == null) {
                inversion = saved.method();
            }
        }
        if (inversion != null) {
            builder.inversion(inversion);
        }
        NullTextOptions nullText = inversionOptions.nullText();
        if (nullText != null) {
            builder.nullText(nullText);
        }
        return builder.build();
    }

    private ImageEditRequest prepared;

    @Override
    Job prepare() {
        ImageEditRequest request = request();
        prepared = request;
        return (suppressor, listener) -> {
            ImageEditResult result = suppressor.edit(request, listener);
            LinkedHashMap<String, BufferedImage> images = new LinkedHashMap<>();
            images.put(SIDE_BY_SIDE, result.sideBySide());
            images.put("input.png", result.inputImage());
            images.put("reconstruction.png", result.reconstruction());
            images.put("suppressed.png", result.suppressed());
            images.put("vae-reconstruction.png", Images.toImage(result.vaeReconstruction()));
            String note = result.reusedInversion()
                    ? "inversion: reused " + inversionFile.toAbsolutePath() + " (" + result.inversion()
                    + "; no inversion UNet work)"
                    : "inversion: " + result.inversion() + ", " + result.inversionWork() + " of the unet work";
            return new Outcome(result.suppression(), images, "input | reconstruction | suppressed", result.saved(),
                    List.of(note));
        };
    }

    @Override
    List<String> warnings(Suppressor suppressor) {
        return suppressor.check(prepared.suppression());
    }
}
