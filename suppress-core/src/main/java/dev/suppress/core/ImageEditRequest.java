package dev.suppress.core;

import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.inversion.SavedInversion;

import java.awt.image.BufferedImage;
import java.util.Objects;
import java.util.function.UnaryOperator;

/**
 * A real photo to edit: invert it (ALGORITHM.md §6), then suppress (or strengthen) words of its prompt, built with
 * {@link #builder(BufferedImage, String)}.
 *
 * <p>The photo is centre-cropped to a square and resized to the model's resolution (or the request's square size;
 * a width and height that differ are refused). The suppression options are a
 * {@link SuppressionRequest} whose defaults differ from a generation's in one place: the ITO step scale is the
 * reference's 5 for real images. Its seed and initial latent are not used (the inversion gives the initial latent),
 * nor its negative prompt (the inversion finds the unconditional embeddings).
 *
 * @param image       the photo (copied on the way in and out)
 * @param inversion   null-text or negative-prompt inversion
 * @param nullText    null-text optimization settings
 * @param suppression the prompt, the words and every suppression option
 * @param saved       an inversion of this photo to reuse instead of inverting it again, or {@code null}; the edit
 *                    checks its fingerprint against this request ({@link #inversionRequest()}) and the model
 */
public record ImageEditRequest(BufferedImage image, Inversion inversion, NullTextOptions nullText,
                               SuppressionRequest suppression, SavedInversion saved) {

    /** The reference's ITO step scale for real images. */
    public static final double REAL_IMAGE_ITO_SCALE = 5.0;

    public ImageEditRequest {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(inversion, "inversion");
        Objects.requireNonNull(nullText, "nullText");
        Objects.requireNonNull(suppression, "suppression");
        if (suppression.negativePrompt() != null) {
            throw new IllegalArgumentException("A negative prompt does not apply to an edit: the inversion finds the "
                    + "unconditional embeddings");
        }
        InversionRequest.requireSquare(suppression.width(), suppression.height(), "Editing");
        image = copy(image);
    }

    /** An edit that inverts the photo. */
    public ImageEditRequest(BufferedImage image, Inversion inversion, NullTextOptions nullText,
                            SuppressionRequest suppression) {
        this(image, inversion, nullText, suppression, null);
    }

    @Override
    public BufferedImage image() {
        return copy(image);
    }

    /** What this edit's inversion depends on: the photo, the prompt, the inversion, the steps, guidance and size. */
    public InversionRequest inversionRequest() {
        return new InversionRequest(image, suppression.prompt(), inversion, nullText, suppression.schedule().steps(),
                suppression.schedule().guidanceScale(), suppression.imageSize());
    }

    static BufferedImage copy(BufferedImage image) {
        BufferedImage out = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
        int[] pixels = image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
        out.setRGB(0, 0, image.getWidth(), image.getHeight(), pixels, 0, image.getWidth());
        return out;
    }

    /** A builder with the reference's defaults: null-text inversion, ITO step scale 5. */
    public static Builder builder(BufferedImage image, String prompt) {
        return new Builder(image, prompt);
    }

    /** Builds an {@link ImageEditRequest}. */
    public static final class Builder {
        private final BufferedImage image;
        private final SuppressionRequest.Builder suppression;
        private Inversion inversion = Inversion.NULL_TEXT;
        private NullTextOptions nullText = NullTextOptions.REFERENCE;
        private SavedInversion saved;

        private Builder(BufferedImage image, String prompt) {
            this.image = Objects.requireNonNull(image, "image");
            this.suppression = SuppressionRequest.builder(prompt).itoStepScale(REAL_IMAGE_ITO_SCALE);
        }

        /** Adds words or phrases to suppress. */
        public Builder suppress(String... words) {
            suppression.suppress(words);
            return this;
        }

        /** The inversion (default null-text). */
        public Builder inversion(Inversion inversion) {
            this.inversion = Objects.requireNonNull(inversion, "inversion");
            return this;
        }

        /**
         * Reuses a saved inversion of this photo ({@link SavedInversion#read}, or {@link ImageEditResult#saved()}
         * of an earlier edit) instead of inverting it again. It must have been made with this request's inversion,
         * null-text settings, prompt, steps, guidance and size, on the same model: the edit refuses it otherwise,
         * naming the first field that differs.
         */
        public Builder inversion(SavedInversion saved) {
            this.saved = Objects.requireNonNull(saved, "saved");
            return this;
        }

        /** Null-text settings (default the reference's). */
        public Builder nullText(NullTextOptions options) {
            this.nullText = Objects.requireNonNull(options, "options");
            return this;
        }

        /** Sets any suppression option on the underlying {@link SuppressionRequest.Builder}. */
        public Builder suppression(UnaryOperator<SuppressionRequest.Builder> options) {
            options.apply(suppression);
            return this;
        }

        /**
         * @throws IllegalArgumentException naming the invalid option
         */
        public ImageEditRequest build() {
            return new ImageEditRequest(image, inversion, nullText, suppression.build(), saved);
        }
    }
}
