package dev.suppress.core.internal.attention;

/**
 * The cosine similarity of each pair of matching columns of two row-major matrices {@code x, y} of shape
 * {@code [rows, columns]} (the reference's {@code torch.nn.CosineSimilarity(dim=1, eps=1e-8)} applied to one column
 * pair at a time), computed for all columns in one pass over both matrices, and the gradient of a weighted sum of
 * the distances {@code 1 - cos}.
 *
 * <p>torch 1.13 {@code at::native::cosine_similarity}: {@code cos = <x, y> / (max(|x|, eps) * max(|y|, eps))}, where
 * each norm is clamped separately inside a no-grad block, so back-propagation sees the clamped norm as the
 * denominator but differentiates the norm itself unclamped ({@code d|x|/dx = x/|x|}, 0 at {@code x = 0}):
 * <pre>
 *   d cos / dx = y / (nx * ny) - cos * x / (nx * |x|)      nx = max(|x|, eps), ny = max(|y|, eps)
 * </pre>
 * The second term vanishes for an all-zero column; the first then is {@code y / (eps * |y|)}, as large as torch's.
 */
final class ColumnCosines {

    /** torch.nn.CosineSimilarity's default, the reference's value. */
    static final double EPS = 1e-8;

    private final int rows;
    private final int columns;
    private final double[] cosine;
    /** {@code 1 / (nx * ny)}. */
    private final double[] inverseNormProduct;
    /** {@code cos / (nx * |x|)}, 0 where {@code |x| = 0}. */
    private final double[] xCoefficient;
    /** {@code cos / (ny * |y|)}, 0 where {@code |y| = 0}. */
    private final double[] yCoefficient;

    /**
     * @param x       {@code [rows, columns]}, not modified
     * @param y       {@code [rows, columns]}, not modified
     */
    ColumnCosines(double[] x, double[] y, int rows, int columns) {
        this.rows = rows;
        this.columns = columns;
        double[] xx = new double[columns];
        double[] yy = new double[columns];
        double[] xy = new double[columns];
        for (int r = 0; r < rows; r++) {
            int offset = r * columns;
            for (int c = 0; c < columns; c++) {
                double a = x[offset + c];
                double b = y[offset + c];
                xx[c] += a * a;
                yy[c] += b * b;
                xy[c] += a * b;
            }
        }
        cosine = new double[columns];
        inverseNormProduct = new double[columns];
        xCoefficient = new double[columns];
        yCoefficient = new double[columns];
        for (int c = 0; c < columns; c++) {
            double normX = Math.sqrt(xx[c]);
            double normY = Math.sqrt(yy[c]);
            double clampedX = Math.max(normX, EPS);
            double clampedY = Math.max(normY, EPS);
            double cos = xy[c] / (clampedX * clampedY);
            cosine[c] = cos;
            inverseNormProduct[c] = 1.0 / (clampedX * clampedY);
            xCoefficient[c] = normX > 0 ? cos / (clampedX * normX) : 0.0;
            yCoefficient[c] = normY > 0 ? cos / (clampedY * normY) : 0.0;
        }
    }

    /** {@code cos} of column {@code column}. */
    double cosine(int column) {
        return cosine[column];
    }

    /**
     * Writes the gradient of {@code sum_c weights[c] * (1 - cos_c)} with respect to {@code x} and {@code y}.
     *
     * @param x         the matrix given to the constructor, not modified
     * @param y         the matrix given to the constructor, not modified
     * @param weights   {@code [columns]}, not modified
     * @param gradientX {@code [rows, columns]}, overwritten; {@code null} to skip
     * @param gradientY {@code [rows, columns]}, overwritten; {@code null} to skip
     */
    void distanceGradient(double[] x, double[] y, double[] weights, double[] gradientX, double[] gradientY) {
        // d(1 - cos)/dx = -(y / (nx ny) - cosX x): fold the weight and the sign into per-column factors.
        double[] direct = new double[columns];
        double[] selfX = new double[columns];
        double[] selfY = new double[columns];
        for (int c = 0; c < columns; c++) {
            direct[c] = -weights[c] * inverseNormProduct[c];
            selfX[c] = weights[c] * xCoefficient[c];
            selfY[c] = weights[c] * yCoefficient[c];
        }
        for (int r = 0; r < rows; r++) {
            int offset = r * columns;
            for (int c = 0; c < columns; c++) {
                double a = x[offset + c];
                double b = y[offset + c];
                if (gradientX != null) {
                    gradientX[offset + c] = direct[c] * b + selfX[c] * a;
                }
                if (gradientY != null) {
                    gradientY[offset + c] = direct[c] * a + selfY[c] * b;
                }
            }
        }
    }
}
