package dev.suppress.core;

/**
 * Checks and names of a request's image width and height (pixels, multiples of 8, 0 for the model's default), shared
 * by the request records and {@link RequestValidator}.
 */
final class ImageSizes {

    /** Pixels per latent pixel: the VAE of SD 1.x, 2.x and XL halves each side three times. */
    static final int VAE_FACTOR = 8;

    private ImageSizes() {
    }

    /**
     * @throws IllegalArgumentException naming {@code width} or {@code height} (or {@code imageSize} when both are
     *                                  the same value, as {@code imageSize(int)} sets them)
     */
    static void check(int width, int height) {
        if (width == height) {
            requireMultiple("imageSize", " (width and height; 0 = the model's default)", width);
        } else {
            requireMultiple("width", " (0 = the model's default)", width);
            requireMultiple("height", " (0 = the model's default)", height);
        }
    }

    private static void requireMultiple(String name, String note, int pixels) {
        if (pixels < 0 || pixels % VAE_FACTOR != 0) {
            throw new IllegalArgumentException(name + " must be a multiple of " + VAE_FACTOR + note + ", got "
                    + pixels);
        }
    }

    /** The side of a square size; a rectangle has none. */
    static int side(int width, int height) {
        if (width != height) {
            throw new IllegalStateException("The image is " + width + " px wide and " + height + " px high, not "
                    + "square: read width() and height()");
        }
        return width;
    }

    /** What an axis is called in messages: {@code imageSize} for a square, else {@code width} or {@code height}. */
    static String name(boolean square, String axis) {
        return square ? "imageSize" : axis;
    }
}
