package dev.suppress.core.internal.attention;

/**
 * Bilinear resizing of a single-channel float64 image with the semantics of PyTorch's
 * {@code F.interpolate(x, size=(outHeight, outWidth), mode="bilinear", align_corners=False)} on CPU (torch 1.13,
 * {@code UpSampleKernel.cpp}), which the reference's {@code AttnLoss.calc_mask} uses (ALGORITHM.md §4).
 *
 * <p>Per axis: {@code scale = in / out}, source coordinate {@code src = scale * (dst + 0.5) - 0.5} clamped below at
 * 0, {@code i0 = floor(src)}, {@code i1 = i0 + 1} unless {@code i0} is the last index, {@code lambda1 = src - i0},
 * {@code lambda0 = 1 - lambda1}. The two axes combine as torch evaluates them:
 * {@code (a00*w0 + a01*w1) * h0 + (a10*w0 + a11*w1) * h1}, so the results agree bit for bit on the sizes the
 * loss uses (their source coordinates are exact binary fractions).
 */
final class BilinearResize {

    private final int inHeight;
    private final int inWidth;
    private final int outHeight;
    private final int outWidth;
    private final Axis rows;
    private final Axis columns;

    BilinearResize(int inHeight, int inWidth, int outHeight, int outWidth) {
        if (inHeight < 1 || inWidth < 1 || outHeight < 1 || outWidth < 1) {
            throw new IllegalArgumentException("Cannot resize " + inHeight + "x" + inWidth + " to " + outHeight + "x"
                    + outWidth);
        }
        this.inHeight = inHeight;
        this.inWidth = inWidth;
        this.outHeight = outHeight;
        this.outWidth = outWidth;
        this.rows = new Axis(inHeight, outHeight);
        this.columns = new Axis(inWidth, outWidth);
    }

    /**
     * Resizes {@code source} ({@code [inHeight, inWidth]} row-major, not modified) into {@code destination}
     * ({@code [outHeight, outWidth]}, modified).
     */
    void resize(double[] source, double[] destination) {
        if (source.length != inHeight * inWidth || destination.length != outHeight * outWidth) {
            throw new IllegalArgumentException("Expected " + inHeight * inWidth + " source and " + outHeight * outWidth
                    + " destination values, got " + source.length + " and " + destination.length);
        }
        for (int y = 0; y < outHeight; y++) {
            int top = rows.index0[y] * inWidth;
            int bottom = rows.index1[y] * inWidth;
            double h0 = rows.lambda0[y];
            double h1 = rows.lambda1[y];
            int outOffset = y * outWidth;
            for (int x = 0; x < outWidth; x++) {
                int left = columns.index0[x];
                int right = columns.index1[x];
                double w0 = columns.lambda0[x];
                double w1 = columns.lambda1[x];
                double upper = source[top + left] * w0 + source[top + right] * w1;
                double lower = source[bottom + left] * w0 + source[bottom + right] * w1;
                destination[outOffset + x] = upper * h0 + lower * h1;
            }
        }
    }

    /** The two source indices and weights of every output position along one axis. */
    private static final class Axis {
        final int[] index0;
        final int[] index1;
        final double[] lambda0;
        final double[] lambda1;

        Axis(int in, int out) {
            index0 = new int[out];
            index1 = new int[out];
            lambda0 = new double[out];
            lambda1 = new double[out];
            // area_pixel_compute_scale without an explicit scale factor: in / out.
            double scale = (double) in / out;
            for (int d = 0; d < out; d++) {
                // area_pixel_compute_source_index with align_corners=False, not cubic: clamp negatives to 0.
                double source = Math.max(scale * (d + 0.5) - 0.5, 0.0);
                int i0 = Math.min((int) source, in - 1);
                index0[d] = i0;
                index1[d] = i0 < in - 1 ? i0 + 1 : i0;
                lambda1[d] = Math.min(Math.max(source - i0, 0.0), 1.0);
                lambda0[d] = 1.0 - lambda1[d];
            }
        }
    }
}
