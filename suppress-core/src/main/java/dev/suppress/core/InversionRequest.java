package dev.suppress.core;

import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;

import java.awt.image.BufferedImage;
import java.util.Objects;

/**
 * What inverting a real photo depends on (ALGORITHM.md §6), without the words an edit suppresses: the input of
 * {@link Suppressor#invert}, and the part of an {@link ImageEditRequest} that a
 * {@link dev.suppress.core.inversion.SavedInversion}'s fingerprint records ({@link ImageEditRequest#inversionRequest()}).
 *
 * @param image         the photo (copied on the way in and out); centre-cropped and resized to the model's size
 * @param prompt        the prompt that describes the photo
 * @param inversion     null-text or negative-prompt inversion
 * @param nullText      null-text optimization settings (unused by negative-prompt inversion)
 * @param steps         DDIM steps, the same as the later edit's
 * @param guidanceScale classifier-free guidance of the later edit, which null-text inversion reproduces
 * @param imageSize     side of the square image in pixels (a multiple of 8), or 0 for the model's default;
 *                      inversion works on squares (the photo is centre-cropped to one), so there is no width and
 *                      height here: {@link Builder#width}/{@link Builder#height} that differ are refused
 */
public record InversionRequest(BufferedImage image, String prompt, Inversion inversion, NullTextOptions nullText,
                               int steps, double guidanceScale, int imageSize) {

    public InversionRequest {
        Objects.requireNonNull(image, "image");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(inversion, "inversion");
        Objects.requireNonNull(nullText, "nullText");
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        if (!Double.isFinite(guidanceScale)) {
            throw new IllegalArgumentException("guidanceScale must be finite, got " + guidanceScale);
        }
        if (imageSize < 0 || imageSize % 8 != 0) {
            throw new IllegalArgumentException("imageSize must be a multiple of 8 (0 = the model's default), got "
                    + imageSize);
        }
        image = ImageEditRequest.copy(image);
    }

    @Override
    public BufferedImage image() {
        return ImageEditRequest.copy(image);
    }

    /**
     * A builder with the defaults of an {@link ImageEditRequest}: null-text inversion with the reference's settings,
     * and the steps, guidance and size a {@link SuppressionRequest} defaults to.
     */
    public static Builder builder(BufferedImage image, String prompt) {
        return new Builder(image, prompt);
    }

    /** Builds an {@link InversionRequest}. */
    public static final class Builder {
        private final BufferedImage image;
        private final String prompt;
        private Inversion inversion = Inversion.NULL_TEXT;
        private NullTextOptions nullText = NullTextOptions.REFERENCE;
        private int steps = SuppressionRequest.DEFAULT_STEPS;
        private double guidanceScale = SuppressionRequest.DEFAULT_GUIDANCE_SCALE;
        private int width;
        private int height;

        private Builder(BufferedImage image, String prompt) {
            this.image = Objects.requireNonNull(image, "image");
            this.prompt = Objects.requireNonNull(prompt, "prompt");
        }

        /** The inversion (default null-text). */
        public Builder inversion(Inversion inversion) {
            this.inversion = Objects.requireNonNull(inversion, "inversion");
            return this;
        }

        /** Null-text settings (default the reference's). */
        public Builder nullText(NullTextOptions options) {
            this.nullText = Objects.requireNonNull(options, "options");
            return this;
        }

        /** DDIM steps (default 50). */
        public Builder steps(int steps) {
            this.steps = steps;
            return this;
        }

        /** Classifier-free guidance (default 7.5). */
        public Builder guidanceScale(double guidanceScale) {
            this.guidanceScale = guidanceScale;
            return this;
        }

        /** Side of the square image in pixels, a multiple of 8 (default 0: the model's): width and height. */
        public Builder imageSize(int pixels) {
            this.width = pixels;
            this.height = pixels;
            return this;
        }

        /** Image width in pixels; inversion needs it equal to the height (a square). */
        public Builder width(int pixels) {
            this.width = pixels;
            return this;
        }

        /** Image height in pixels; inversion needs it equal to the width (a square). */
        public Builder height(int pixels) {
            this.height = pixels;
            return this;
        }

        /**
         * @throws IllegalArgumentException naming the invalid option, and {@code width} and {@code height} when they
         *                                  differ
         */
        public InversionRequest build() {
            requireSquare(width, height, "Inversion");
            return new InversionRequest(image, prompt, inversion, nullText, steps, guidanceScale, width);
        }
    }

    /** Refuses a rectangle for inversion and editing, which centre-crop the photo to a square. */
    static void requireSquare(int width, int height, String what) {
        if (width != height) {
            throw new IllegalArgumentException(what + " works on square images (the photo is centre-cropped to a "
                    + "square, as the reference's load_512): width " + width + " and height " + height + " differ; "
                    + "give one size (imageSize, --size) or leave both at 0 for the model's default");
        }
    }
}
