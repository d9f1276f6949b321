package dev.suppress.core.image;

/**
 * Separable bicubic resampling of 8-bit RGB as Pillow's {@code Image.resize(size)} does by default (the reference's
 * {@code load_512}): the cubic kernel with {@code a = -0.5}, widened by the scale factor when shrinking so every
 * source pixel contributes (antialiasing), normalised weights, rounded to the nearest level. Pillow computes in
 * fixed point, so a value can differ from it by one level.
 */
final class BicubicResize {

    private static final double A = -0.5;

    private BicubicResize() {
    }

    /** Resizes packed {@code 0xRRGGBB} pixels from {@code width x height} to {@code newWidth x newHeight}. */
    static int[] resize(int[] pixels, int width, int height, int newWidth, int newHeight) {
        float[][] channels = new float[3][width * height];
        for (int i = 0; i < pixels.length; i++) {
            channels[0][i] = (pixels[i] >> 16) & 0xFF;
            channels[1][i] = (pixels[i] >> 8) & 0xFF;
            channels[2][i] = pixels[i] & 0xFF;
        }
        Weights horizontal = weights(width, newWidth);
        Weights vertical = weights(height, newHeight);
        int[] out = new int[newWidth * newHeight];
        for (int channel = 0; channel < 3; channel++) {
            float[] source = channels[channel];
            float[] rows = new float[newWidth * height];
            for (int y = 0; y < height; y++) {
                for (int x = 0; x < newWidth; x++) {
                    double sum = 0;
                    for (int k = 0; k < horizontal.count[x]; k++) {
                        sum += horizontal.values[x][k] * source[y * width + horizontal.first[x] + k];
                    }
                    // Pillow rounds and clips after each pass for 8-bit images
                    rows[y * newWidth + x] = clip(sum);
                }
            }
            for (int y = 0; y < newHeight; y++) {
                for (int x = 0; x < newWidth; x++) {
                    double sum = 0;
                    for (int k = 0; k < vertical.count[y]; k++) {
                        sum += vertical.values[y][k] * rows[(vertical.first[y] + k) * newWidth + x];
                    }
                    out[y * newWidth + x] |= ((int) clip(sum)) << (16 - 8 * channel);
                }
            }
        }
        return out;
    }

    private static float clip(double value) {
        return (float) Math.max(0, Math.min(255, Math.floor(value + 0.5)));
    }

    private record Weights(int[] first, int[] count, double[][] values) {
    }

    /** Pillow's {@code precompute_coeffs} for the bicubic filter (support 2). */
    private static Weights weights(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = 2.0 * filterScale;
        int[] first = new int[outSize];
        int[] count = new int[outSize];
        double[][] values = new double[outSize][];
        for (int x = 0; x < outSize; x++) {
            double center = (x + 0.5) * scale;
            int min = (int) Math.max(0, Math.floor(center - support + 0.5));
            int max = (int) Math.min(inSize, Math.floor(center + support + 0.5));
            double[] w = new double[max - min];
            double total = 0;
            for (int k = 0; k < w.length; k++) {
                w[k] = cubic((k + min - center + 0.5) / filterScale);
                total += w[k];
            }
            for (int k = 0; k < w.length; k++) {
                w[k] = total == 0 ? 0 : w[k] / total;
            }
            first[x] = min;
            count[x] = w.length;
            values[x] = w;
        }
        return new Weights(first, count, values);
    }

    private static double cubic(double x) {
        double t = Math.abs(x);
        if (t < 1) {
            return ((A + 2) * t - (A + 3)) * t * t + 1;
        }
        if (t < 2) {
            return (((t - 5) * t + 8) * t - 4) * A;
        }
        return 0;
    }
}
