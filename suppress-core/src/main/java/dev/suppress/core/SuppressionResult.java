package dev.suppress.core;

import dev.suppress.core.image.Images;
import dev.suppress.core.tensor.Tensor;

import java.awt.image.BufferedImage;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What a generation produced.
 *
 * @param originalImage       the original branch decoded, {@code [3, H, W]} in {@code [-1, 1]} (unclamped), or
 *                            {@code null} for a suppressed-only run in fast mode
 * @param suppressedImage     the suppressed branch decoded, {@code [3, H, W]}
 * @param originalLatent      the original branch's final latent {@code [1, 4, h, w]}, or {@code null} for a
 *                            suppressed-only run in fast mode
 * @param suppressedLatent    the suppressed branch's final latent {@code [1, 4, h, w]}
 * @param suppressedTokens    the prompt-token indices that were suppressed (or strengthened), ascending
 * @param attention           per-token cross-attention maps of both branches
 * @param attentionResolution the side of the ITO attention maps that was used, for a rectangle their larger side
 *                            ({@link TokenAttention#height()} and {@link TokenAttention#width()} give both)
 * @param itoSteps            the ITO losses of each optimised step
 * @param itoAudits           the matched-state audit of each ITO step (empty unless asked for)
 * @param work                the UNet work it took
 * @param elapsed             wall time
 * @param phases              wall time per phase
 */
public record SuppressionResult(Tensor originalImage, Tensor suppressedImage, Tensor originalLatent,
                                Tensor suppressedLatent, List<Integer> suppressedTokens, TokenAttention attention,
                                int attentionResolution, List<ItoStep> itoSteps, List<ItoAudit> itoAudits, UNetWork work,
                                Duration elapsed, PhaseTimes phases) {

    public SuppressionResult {
        Objects.requireNonNull(suppressedImage, "suppressedImage");
        if ((originalImage == null) != (originalLatent == null)) {
            throw new IllegalArgumentException("The original image and latent come together");
        }
        suppressedTokens = List.copyOf(suppressedTokens);
        itoSteps = List.copyOf(itoSteps);
        itoAudits = List.copyOf(itoAudits);
    }

    /**
     * One ITO step of the matched-state audit ({@code SuppressionRequest.Builder#itoAudit}): from the same latent,
     * maps and SWR embedding, the loss fast mode's ITO reached and the loss the reference's ITO reaches.
     *
     * @param stepIndex     the denoising step
     * @param fastLoss      the loss of the embedding fast mode used
     * @param referenceLoss the loss of the reference's ITO result (cold from SWR, its iterations, fixed step)
     */
    public record ItoAudit(int stepIndex, double fastLoss, double referenceLoss) {
    }

    /**
     * The losses of one denoising step's ITO.
     *
     * @param stepIndex the denoising step
     * @param losses    the loss before each update
     */
    public record ItoStep(int stepIndex, double[] losses) {

        public ItoStep {
            losses = losses.clone();
        }

        @Override
        public double[] losses() {
            return losses.clone();
        }

        /** The loss before the last update. */
        public double lastLoss() {
            return losses.length == 0 ? Double.NaN : losses[losses.length - 1];
        }
    }

    /**
     * Wall time per phase of a run.
     *
     * @param textEncoding the CLIP passes
     * @param inversion    encoding and inverting a photo (zero for a generation)
     * @param denoising    the denoising steps' UNet passes and scheduler steps, ITO excluded
     * @param ito          inference-time optimisation, its reference passes included
     * @param decoding     the VAE decoder
     */
    public record PhaseTimes(Duration textEncoding, Duration inversion, Duration denoising, Duration ito,
                             Duration decoding) {
    }

    /** Whether the original branch was run to the end (false for a suppressed-only run in fast mode). */
    public boolean hasOriginal() {
        return originalImage != null;
    }

    /**
     * The original image as 8-bit RGB (a new image on each call).
     *
     * @throws IllegalStateException for a suppressed-only run
     */
    public BufferedImage original() {
        if (originalImage == null) {
            throw new IllegalStateException("A suppressed-only run has no original image");
        }
        return Images.toImage(originalImage);
    }

    /** The suppressed image as 8-bit RGB (a new image on each call). */
    public BufferedImage suppressed() {
        return Images.toImage(suppressedImage);
    }

    /** Original | suppressed, side by side (the suppressed image alone for a suppressed-only run). */
    public BufferedImage sideBySide() {
        return hasOriginal() ? Images.sideBySide(List.of(original(), suppressed())) : suppressed();
    }
}
