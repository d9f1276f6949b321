package dev.suppress.core;

import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.tensor.Tensor;

import java.awt.image.BufferedImage;
import java.util.List;
import java.util.Objects;

/**
 * What a real-photo edit produced.
 *
 * @param input                   the photo as the model saw it (cropped, resized), {@code [3, H, W]} in {@code [-1, 1]}
 * @param vaeReconstruction       the photo encoded and decoded by the VAE alone, {@code [3, H, W]}
 * @param inversion               the inversion used
 * @param inversionLatents        DDIM inversion's {@code S + 1} latents {@code [1, 4, h, w]}: the photo's, then one per
 *                                step, the last being the initial latent of both branches; only that last one when
 *                                the edit reused a saved inversion
 * @param unconditionalEmbeddings the unconditional embedding of each of the {@code S} steps {@code [77, M]}
 * @param saved                   the inversion the edit used, with its fingerprint: the one it made, or the one it
 *                                reused; {@link SavedInversion#write} it to edit the photo again without inverting
 * @param inversionWork           the UNet work of the inversion, included in the suppression's work;
 *                                {@link UNetWork#NONE} when the edit reused a saved inversion
 * @param suppression             both branches from the inverted latent: the original branch reconstructs the photo, the
 *                                suppressed one is the edit; its work and wall time cover the whole edit
 */
public record ImageEditResult(Tensor input, Tensor vaeReconstruction, Inversion inversion,
                              List<Tensor> inversionLatents, List<Tensor> unconditionalEmbeddings,
                              SavedInversion saved, UNetWork inversionWork, SuppressionResult suppression) {

    public ImageEditResult {
        Objects.requireNonNull(input, "input");
        Objects.requireNonNull(vaeReconstruction, "vaeReconstruction");
        inversionLatents = List.copyOf(inversionLatents);
        unconditionalEmbeddings = List.copyOf(unconditionalEmbeddings);
        Objects.requireNonNull(saved, "saved");
        Objects.requireNonNull(inversionWork, "inversionWork");
        Objects.requireNonNull(suppression, "suppression");
    }

    /** Whether the edit reused a saved inversion instead of inverting the photo. */
    public boolean reusedInversion() {
        return inversionLatents.size() == 1;
    }

    /** The photo as the model saw it, 8-bit RGB. */
    public BufferedImage inputImage() {
        return Images.toImage(input);
    }

    /** The inverted photo regenerated (the original branch). */
    public BufferedImage reconstruction() {
        return suppression.original();
    }

    /** The edited photo (the suppressed branch). */
    public BufferedImage suppressed() {
        return suppression.suppressed();
    }

    /** Input | reconstruction | suppressed, side by side. */
    public BufferedImage sideBySide() {
        return Images.sideBySide(List.of(inputImage(), reconstruction(), suppressed()));
    }
}
