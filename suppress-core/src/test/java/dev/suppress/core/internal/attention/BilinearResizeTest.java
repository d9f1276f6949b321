package dev.suppress.core.internal.attention;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BilinearResizeTest {

    @Test
    void upsamplesTwoByTwoAsTorchDoes() {
        // F.interpolate(tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode="bilinear", align_corners=False)
        double[] expected = {
            1.0, 1.25, 1.75, 2.0,
            1.5, 1.75, 2.25, 2.5,
            2.5, 2.75, 3.25, 3.5,
            3.0, 3.25, 3.75, 4.0};
        double[] out = new double[16];
        new BilinearResize(2, 2, 4, 4).resize(new double[] {1, 2, 3, 4}, out);
        assertArrayEquals(expected, out, 0.0);
    }

    @Test
    void downsamplingByAnEvenFactorAveragesTheCentralTwoByTwo() {
        // 256 -> 16: src = 16*dst + 7.5, so each output is the mean of rows/columns 16*dst+7 and 16*dst+8.
        Random random = new Random(345);
        double[] source = new double[256 * 256];
        for (int i = 0; i < source.length; i++) {
            source[i] = random.nextDouble();
        }
        double[] out = new double[16 * 16];
        new BilinearResize(256, 256, 16, 16).resize(source, out);
        double[] expected = new double[16 * 16];
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                int top = (16 * y + 7) * 256;
                int bottom = (16 * y + 8) * 256;
                int left = 16 * x + 7;
                int right = 16 * x + 8;
                expected[y * 16 + x] = (source[top + left] * 0.5 + source[top + right] * 0.5) * 0.5
                        + (source[bottom + left] * 0.5 + source[bottom + right] * 0.5) * 0.5;
            }
        }
        assertArrayEquals(expected, out, 0.0);
    }

    @Test
    void sameSizeIsTheIdentity() {
        double[] source = {0.5, -1, 3, 7, 11, 13};
        double[] out = new double[6];
        new BilinearResize(2, 3, 2, 3).resize(source, out);
        assertArrayEquals(source, out, 0.0);
    }

    @Test
    void precomputedAxesMatchThePlainFormulaOnOddSizes() {
        Random random = new Random(346);
        int[][] sizes = {{3, 5, 7, 2}, {16, 16, 256, 256}, {5, 3, 1, 9}, {7, 7, 3, 3}, {1, 4, 6, 4}};
        for (int[] size : sizes) {
            double[] source = new double[size[0] * size[1]];
            for (int i = 0; i < source.length; i++) {
                source[i] = random.nextGaussian();
            }
            double[] out = new double[size[2] * size[3]];
            new BilinearResize(size[0], size[1], size[2], size[3]).resize(source, out);
            assertArrayEquals(plainResize(source, size[0], size[1], size[2], size[3]), out, 1e-15,
                    () -> size[0] + "x" + size[1] + " -> " + size[2] + "x" + size[3]);
        }
    }

    @Test
    void rejectsWrongLengths() {
        BilinearResize resize = new BilinearResize(2, 2, 4, 4);
        assertThrows(IllegalArgumentException.class, () -> resize.resize(new double[3], new double[16]));
        assertThrows(IllegalArgumentException.class, () -> resize.resize(new double[4], new double[15]));
        assertThrows(IllegalArgumentException.class, () -> new BilinearResize(0, 2, 4, 4));
    }

    /** torch's align_corners=False bilinear, written per output pixel straight from the definition. */
    private static double[] plainResize(double[] source, int inHeight, int inWidth, int outHeight, int outWidth) {
        double[] out = new double[outHeight * outWidth];
        for (int y = 0; y < outHeight; y++) {
            double sy = Math.max(((double) inHeight / outHeight) * (y + 0.5) - 0.5, 0);
            int y0 = (int) Math.floor(sy);
            int y1 = Math.min(y0 + 1, inHeight - 1);
            double ly = sy - y0;
            for (int x = 0; x < outWidth; x++) {
                double sx = Math.max(((double) inWidth / outWidth) * (x + 0.5) - 0.5, 0);
                int x0 = (int) Math.floor(sx);
                int x1 = Math.min(x0 + 1, inWidth - 1);
                double lx = sx - x0;
                out[y * outWidth + x] = (1 - ly) * ((1 - lx) * source[y0 * inWidth + x0] + lx * source[y0 * inWidth + x1])
                        + ly * ((1 - lx) * source[y1 * inWidth + x0] + lx * source[y1 * inWidth + x1]);
            }
        }
        return out;
    }
}
