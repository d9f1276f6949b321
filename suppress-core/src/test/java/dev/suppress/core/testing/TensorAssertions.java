package dev.suppress.core.testing;

import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;

/**
 * Element-wise comparison {@code |actual - expected| <= atol + rtol * |expected|} with a message that names the
 * tensor, the first failing index, both values and the largest absolute and relative errors.
 */
public final class TensorAssertions {

    private TensorAssertions() {
    }

    /** A pair of tolerances with the reason they were chosen. */
    public record Tolerance(double rtol, double atol, String reason) {
    }

    public static void assertClose(String name, Tensor expected, Tensor actual, Tolerance tolerance) {
        if (!Arrays.equals(expected.shape(), actual.shape())) {
            throw new AssertionError(name + ": shape " + Arrays.toString(actual.shape()) + ", expected "
                    + Arrays.toString(expected.shape()));
        }
        assertClose(name, expected.toDoubleArray(), actual.toDoubleArray(), tolerance);
    }

    public static void assertClose(String name, float[] expected, float[] actual, Tolerance tolerance) {
        assertClose(name, toDouble(expected), toDouble(actual), tolerance);
    }

    public static void assertClose(String name, double[] expected, double[] actual, Tolerance tolerance) {
        if (expected.length != actual.length) {
            throw new AssertionError(name + ": " + actual.length + " values, expected " + expected.length);
        }
        int firstFailure = -1;
        double maxAbs = 0;
        double maxRel = 0;
        for (int i = 0; i < expected.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (!(diff <= tolerance.atol() + tolerance.rtol() * Math.abs(expected[i])) && firstFailure < 0) {
                firstFailure = i;
            }
            if (Double.isNaN(actual[i]) && firstFailure < 0) {
                firstFailure = i;
            }
            maxAbs = Math.max(maxAbs, diff);
            if (expected[i] != 0) {
                maxRel = Math.max(maxRel, diff / Math.abs(expected[i]));
            }
        }
        if (firstFailure >= 0) {
            throw new AssertionError(String.format(
                    "%s: first mismatch at flat index %d: actual %.9g, expected %.9g; max abs error %.3g, "
                            + "max rel error %.3g (rtol %.1g, atol %.1g: %s)",
                    name, firstFailure, actual[firstFailure], expected[firstFailure], maxAbs, maxRel,
                    tolerance.rtol(), tolerance.atol(), tolerance.reason()));
        }
    }

    /** The largest absolute difference, for reporting. */
    public static double maxAbsDiff(float[] expected, float[] actual) {
        double max = 0;
        for (int i = 0; i < expected.length; i++) {
            max = Math.max(max, Math.abs(expected[i] - actual[i]));
        }
        return max;
    }

    /**
     * The largest absolute difference over the largest magnitude of {@code expected}: a chained run's drift relative
     * to the latent's scale (element-wise relative error is meaningless near zero).
     */
    public static double relativeMaxDifference(Tensor actual, Tensor expected) {
        float[] a = actual.toArray();
        float[] e = expected.toArray();
        if (a.length != e.length) {
            throw new AssertionError("Sizes differ: " + a.length + " vs " + e.length);
        }
        double scale = 0;
        for (float value : e) {
            scale = Math.max(scale, Math.abs(value));
        }
        return maxAbsDiff(e, a) / scale;
    }

    private static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }
}
