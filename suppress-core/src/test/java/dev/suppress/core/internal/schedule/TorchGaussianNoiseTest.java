package dev.suppress.core.internal.schedule;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchGaussianNoiseTest {

    /**
     * Bit-exact: the AVX2 kernel that made the fixtures is replayed operation by operation, Java float arithmetic
     * and {@link Math#fma} are IEEE-exact on every platform, so any ulp of difference is a real divergence.
     */
    private static final int MAX_ULPS_VS_TORCH = 0;

    @ParameterizedTest(name = "{0} {1} = randn seed {2}")
    @CsvSource({
            "e2e/gen_ito.safetensors, initial_latent, 2023",
            "components/unet.safetensors, latent, 1234",
            "components/vae.safetensors, latent, 4321"})
    void matchesTorchRandnOfTheFixtures(String file, String name, long seed) {
        Tensor expected;
        try (SafetensorsFile fixture = Fixtures.open(file)) {
            expected = fixture.tensor(name);
        }
        Tensor actual = TorchGaussianNoise.randn(seed, expected.shape());
        assertArrayEquals(expected.shape(), actual.shape());
        assertWithinUlps(file + ":" + name, expected.toArray(), actual.toArray(), MAX_ULPS_VS_TORCH);
    }

    @Test
    void engineMatchesStdMt19937() {
        // C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489) is 4123659995.
        Mt19937 engine = new Mt19937(5489);
        assertEquals(3499211612L, engine.nextInt() & 0xffffffffL, "first output for seed 5489");
        for (int i = 2; i < 10000; i++) {
            engine.nextInt();
        }
        assertEquals(4123659995L, engine.nextInt() & 0xffffffffL, "10000th output for seed 5489");
    }

    @Test
    void seedUsesOnlyTheLow32Bits() {
        assertEquals(TorchGaussianNoise.randn(7, 64), TorchGaussianNoise.randn(7 + (1L << 32), 64));
    }

    @Test
    void partialLastBlockKeepsTheHeadOfTheFirstBlock() {
        // 20 elements: the block [0, 16) is filled from the first 16 uniforms, then [4, 20) is recomputed from 16
        // fresh ones, so elements 0..3 equal those of a 16-element draw and the rest do not.
        float[] sixteen = TorchGaussianNoise.randn(99, 16).toArray();
        float[] twenty = TorchGaussianNoise.randn(99, 20).toArray();
        assertArrayEquals(Arrays.copyOf(sixteen, 4), Arrays.copyOf(twenty, 4));
        assertTrue(sixteen[4] != twenty[4], "element 4 should come from the recomputed tail");
    }

    @Test
    void scalarPathCachesTheSecondValueOfEachPairInTheGenerator() {
        // Fewer than 16 elements use at::normal_distribution<double>; its sine half waits in the generator.
        float[] pair = TorchGaussianNoise.randn(5, 2).toArray();
        TorchGaussianNoise stream = new TorchGaussianNoise(5);
        float first = stream.sample(1).get(0);
        float second = stream.sample(1).get(0);
        assertArrayEquals(pair, new float[] {first, second});
        assertTrue(pair[0] != pair[1]);
    }

    @Test
    void successiveSamplesContinueTheStream() {
        TorchGaussianNoise stream = new TorchGaussianNoise(11);
        Tensor first = stream.sample(1, 4, 8, 8);
        Tensor second = stream.sample(1, 4, 8, 8);
        assertTrue(!first.equals(second));
        assertEquals(first, TorchGaussianNoise.randn(11, 1, 4, 8, 8));
    }

    @Test
    void valuesAreStandardNormal() {
        float[] values = TorchGaussianNoise.randn(2024, 1 << 16).toArray();
        double sum = 0;
        double sumSquares = 0;
        for (float value : values) {
            sum += value;
            sumSquares += (double) value * value;
        }
        double mean = sum / values.length;
        double variance = sumSquares / values.length - mean * mean;
        // 65536 samples: the standard error of the mean is 0.004 and of the variance about 0.006.
        assertEquals(0.0, mean, 0.02, "mean");
        assertEquals(1.0, variance, 0.03, "variance");
    }

    @Test
    void avxLogarithmAndSineCosineAreAccurateApproximations() {
        for (float x = 1e-7f; x <= 1f; x *= 1.37f) {
            assertEquals(Math.log(x), TorchGaussianNoise.log256(x), 2e-7 * Math.max(1, Math.abs(Math.log(x))),
                    "log " + x);
        }
        for (float theta = 0f; theta < 6.2832f; theta += 0.01f) {
            long sinCos = TorchGaussianNoise.sincos256(theta);
            assertEquals(Math.sin(theta), Float.intBitsToFloat((int) (sinCos >>> 32)), 3e-7, "sin " + theta);
            assertEquals(Math.cos(theta), Float.intBitsToFloat((int) sinCos), 3e-7, "cos " + theta);
        }
        assertTrue(Float.isNaN(TorchGaussianNoise.log256(0f)));
    }

    @Test
    void emptyShapeDrawsNothing() {
        assertEquals(0, TorchGaussianNoise.randn(1, 0, 4).size());
        TorchGaussianNoise stream = new TorchGaussianNoise(3);
        stream.sample(2, 0);
        assertEquals(TorchGaussianNoise.randn(3, 32), stream.sample(32));
    }

    @Test
    void rejectsNegativeAndOversizedShapes() {
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
                () -> TorchGaussianNoise.randn(1, 4, -1));
        assertTrue(negative.getMessage().contains("[4, -1]"), negative.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TorchGaussianNoise.randn(1, 1 << 16, 1 << 16));
    }

    private static void assertWithinUlps(String name, float[] expected, float[] actual, int maxUlps) {
        assertEquals(expected.length, actual.length, name + ": length");
        int worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.length; i++) {
            int ulps = Math.abs(Float.floatToIntBits(expected[i]) - Float.floatToIntBits(actual[i]));
            if (ulps > worst) {
                worst = ulps;
                worstIndex = i;
            }
        }
        if (worst > maxUlps) {
            throw new AssertionError(String.format("%s: %d ulps apart at flat index %d: actual %.9g, expected %.9g "
                    + "(allowed %d)", name, worst, worstIndex, actual[worstIndex], expected[worstIndex], maxUlps));
        }
    }
}
