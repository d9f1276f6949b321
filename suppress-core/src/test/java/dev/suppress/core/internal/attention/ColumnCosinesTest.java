package dev.suppress.core.internal.attention;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ColumnCosinesTest {

    /** One-pass sums against per-column sums differ only in float64 rounding. */
    private static final double FLOAT64_TOLERANCE = 1e-14;

    @Test
    void matchesAPlainPerColumnCosine() {
        Random random = new Random(345);
        int rows = 9;
        int columns = 5;
        double[] x = new double[rows * columns];
        double[] y = new double[rows * columns];
        for (int i = 0; i < x.length; i++) {
            x[i] = random.nextGaussian();
            y[i] = random.nextGaussian();
        }
        ColumnCosines cosines = new ColumnCosines(x, y, rows, columns);
        for (int c = 0; c < columns; c++) {
            double dot = 0;
            double xx = 0;
            double yy = 0;
            for (int r = 0; r < rows; r++) {
                dot += x[r * columns + c] * y[r * columns + c];
                xx += x[r * columns + c] * x[r * columns + c];
                yy += y[r * columns + c] * y[r * columns + c];
            }
            assertEquals(dot / Math.sqrt(xx) / Math.sqrt(yy), cosines.cosine(c), FLOAT64_TOLERANCE, "column " + c);
        }
    }

    @Test
    void aZeroColumnHasCosineZeroAndTorchsClampedGradient() {
        // x column 0 is zero, y column 1 is zero, column 2 is zero in both.
        double[] x = {0, 1, 0, 0, 2, 0};
        double[] y = {3, 0, 0, 4, 0, 0};
        ColumnCosines cosines = new ColumnCosines(x, y, 2, 3);
        assertEquals(0.0, cosines.cosine(0));
        assertEquals(0.0, cosines.cosine(1));
        assertEquals(0.0, cosines.cosine(2));
        double[] gradientX = new double[6];
        double[] gradientY = new double[6];
        cosines.distanceGradient(x, y, new double[] {1, 1, 1}, gradientX, gradientY);
        // d(1 - cos)/dx = -y / (max(|x|, eps) |y|) where |x| = 0; the norm's own derivative is 0 at 0.
        double eps = ColumnCosines.EPS;
        assertArrayEquals(new double[] {-3 / (eps * 5), 0, 0, -4 / (eps * 5), 0, 0}, gradientX, 1e-6);
        assertArrayEquals(new double[] {0, -1 / (eps * Math.sqrt(5)), 0, 0, -2 / (eps * Math.sqrt(5)), 0},
                gradientY, 1e-6);
    }
}
