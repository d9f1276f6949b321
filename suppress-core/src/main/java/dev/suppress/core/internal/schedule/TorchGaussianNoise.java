package dev.suppress.core.internal.schedule;

import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;

/**
 * Standard normal noise bit-identical to {@code torch.randn(shape, generator=torch.Generator().manual_seed(seed))}
 * on the CPU for float32 (PyTorch 1.13 on an x86-64 machine that dispatches ATen's AVX2 kernels, which is what
 * produced the reference latents): the same seed gives the same initial latent {@code z_T} as the reference
 * (ALGORITHM.md §3, {@code ptp_utils.init_latent}).
 *
 * <p>What is reproduced, from the ATen sources:
 * <ul>
 *   <li>the generator: {@code at::mt19937} seeded with the low 32 bits of the seed ({@link Mt19937});</li>
 *   <li>tensors with at least 16 elements ({@code normal_fill_AVX2} in
 *       {@code aten/src/ATen/native/cpu/DistributionTemplates.h}): first one uniform float per element, the low 24
 *       bits of one 32-bit draw times 2<sup>-24</sup> ({@code transformation::uniform_real}); then Box-Muller on
 *       blocks of 16, where for lane {@code j < 8} {@code u1 = 1 - data[j]}, {@code u2 = data[j + 8]},
 *       {@code radius = sqrt(-2 log u1)}, {@code theta = 2 pi u2}, {@code data[j] = radius cos theta},
 *       {@code data[j + 8] = radius sin theta}; when the size is not a multiple of 16, 16 fresh uniforms are drawn
 *       and the last 16 elements are recomputed from them. The logarithm, sine and cosine are the polynomial
 *       approximations of {@code avx_mathfun.h} ({@code log256_ps}, {@code sincos256_ps}) evaluated lane by lane,
 *       with the multiply-adds that GCC fuses into FMA instructions when it compiles the AVX2 kernel
 *       ({@code -mfma}, default {@code -ffp-contract=fast}); {@link Math#fma} makes them exact here;</li>
 *   <li>smaller tensors ({@code normal_kernel}'s serial path): {@code at::normal_distribution<double>} per element,
 *       Box-Muller in float64 on two 53-bit uniforms built from two 32-bit draws each, whose second value (the sine)
 *       is cached in the generator and returned by the next scalar draw, as {@code CPUGeneratorImpl} does.</li>
 * </ul>
 * A PyTorch build that dispatches its DEFAULT or AVX512 kernel instead uses libm's {@code logf}, {@code cosf} and
 * {@code sinf} for the same Box-Muller and differs from these values by up to about 2e-6.
 *
 * <p>An instance is one generator stream, like a {@code torch.Generator}: successive {@link #sample} calls continue
 * it. Mutable and not thread-safe; {@link #randn} is the stateless shortcut for a fresh generator.
 */
public final class TorchGaussianNoise {

    /** ATen switches from the serial path to the blocked fill at this many elements; also the block size. */
    private static final int BLOCK = 16;
    private static final int HALF_BLOCK = BLOCK / 2;

    /** {@code transformation::uniform_real<float>}: mask of {@code std::numeric_limits<float>::digits} bits. */
    private static final int FLOAT_MANTISSA_MASK = (1 << 24) - 1;
    private static final float FLOAT_UNIFORM_SCALE = 0x1.0p-24f;
    /** The same for double: 53 bits of a 64-bit draw. */
    private static final long DOUBLE_MANTISSA_MASK = (1L << 53) - 1;
    private static final double DOUBLE_UNIFORM_SCALE = 0x1.0p-53;

    /** {@code _mm256_set1_ps(2.0f * c10::pi<double>)}: the product is a double rounded once to float. */
    private static final float TWO_PI = (float) (2.0 * Math.PI);

    // avx_mathfun.h constants, double literals in the header, so each is the double rounded to float.
    private static final float SQRT_HALF = (float) 0.707106781186547524;
    private static final float[] LOG_POLYNOMIAL = {
            (float) 7.0376836292E-2, (float) -1.1514610310E-1, (float) 1.1676998740E-1,
            (float) -1.2420140846E-1, (float) 1.4249322787E-1, (float) -1.6668057665E-1,
            (float) 2.0000714765E-1, (float) -2.4999993993E-1, (float) 3.3333331174E-1};
    private static final float LOG_Q1 = (float) -2.12194440e-4;
    private static final float LOG_Q2 = (float) 0.693359375;
    private static final float FOUR_OVER_PI = (float) 1.27323954473516;
    private static final float MINUS_DP1 = (float) -0.78515625;
    private static final float MINUS_DP2 = (float) -2.4187564849853515625e-4;
    private static final float MINUS_DP3 = (float) -3.77489497744594108e-8;
    private static final float SIN_P0 = (float) -1.9515295891E-4;
    private static final float SIN_P1 = (float) 8.3321608736E-3;
    private static final float SIN_P2 = (float) -1.6666654611E-1;
    private static final float COS_P0 = (float) 2.443315711809948E-005;
    private static final float COS_P1 = (float) -1.388731625493765E-003;
    private static final float COS_P2 = (float) 4.166664568298827E-002;

    private final Mt19937 engine;
    /** {@code CPUGeneratorImpl::next_double_normal_sample_}: the sine half of the last scalar Box-Muller pair. */
    private double cachedNormal;
    private boolean hasCachedNormal;

    /** A fresh generator, as {@code torch.Generator().manual_seed(seed)}; only the low 32 bits of the seed matter. */
    public TorchGaussianNoise(long seed) {
        this.engine = new Mt19937(seed);
    }

    /**
     * {@code torch.randn(shape, generator=torch.Generator().manual_seed(seed))} on the CPU in float32.
     *
     * @param seed  the generator seed (low 32 bits used, as by torch)
     * @param shape the dimensions, e.g. {@code [batch, 4, h, w]} for a latent; not modified
     * @return a new tensor of that shape
     * @throws IllegalArgumentException when a dimension is negative or the size exceeds {@code Integer.MAX_VALUE}
     */
    public static Tensor randn(long seed, int... shape) {
        return new TorchGaussianNoise(seed).sample(shape);
    }

    /**
     * The next {@code torch.randn(shape, generator=this)} of this stream; advances the generator.
     *
     * @param shape the dimensions; not modified
     * @return a new tensor of that shape
     * @throws IllegalArgumentException when a dimension is negative or the size exceeds {@code Integer.MAX_VALUE}
     */
    public Tensor sample(int... shape) {
        int size = checkedSize(shape);
        float[] data = new float[size];
        if (size >= BLOCK) {
            fillBlocked(data);
        } else {
            for (int i = 0; i < size; i++) {
                data[i] = (float) nextScalarNormal();
            }
        }
        return Tensor.wrapOwned(data, shape);
    }

    private static int checkedSize(int[] shape) {
        long size = 1;
        for (int dimension : shape) {
            if (dimension < 0) {
                throw new IllegalArgumentException("Negative dimension in noise shape " + Arrays.toString(shape));
            }
            size *= dimension;
            if (size > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("Noise shape " + Arrays.toString(shape)
                        + " has more than Integer.MAX_VALUE elements");
            }
        }
        return (int) size;
    }

    /** {@code normal_fill_AVX2}: uniforms for every element first, then Box-Muller per block of 16. */
    private void fillBlocked(float[] data) {
        int size = data.length;
        for (int i = 0; i < size; i++) {
            data[i] = nextUniformFloat();
        }
        for (int offset = 0; offset + BLOCK <= size; offset += BLOCK) {
            boxMullerBlock(data, offset);
        }
        if (size % BLOCK != 0) {
            // ATen recomputes the last 16 values from 16 fresh uniforms rather than handling a partial block.
            int offset = size - BLOCK;
            for (int i = 0; i < BLOCK; i++) {
                data[offset + i] = nextUniformFloat();
            }
            boxMullerBlock(data, offset);
        }
    }

    private float nextUniformFloat() {
        return (engine.nextInt() & FLOAT_MANTISSA_MASK) * FLOAT_UNIFORM_SCALE;
    }

    /** {@code normal_fill_16_AVX2}, one lane at a time; modifies {@code data[offset, offset + 16)}. */
    private static void boxMullerBlock(float[] data, int offset) {
        for (int lane = 0; lane < HALF_BLOCK; lane++) {
            float u1 = 1f - data[offset + lane];
            float u2 = data[offset + HALF_BLOCK + lane];
            float radius = (float) Math.sqrt(-2f * log256(u1));
            float theta = TWO_PI * u2;
            long sinCos = sincos256(theta);
            float sin = Float.intBitsToFloat((int) (sinCos >>> 32));
            float cos = Float.intBitsToFloat((int) sinCos);
            // The kernel stores fmadd(n, std = 1, mean = 0): n itself, except that -0 becomes +0.
            data[offset + lane] = Math.fma(radius * cos, 1f, 0f);
            data[offset + HALF_BLOCK + lane] = Math.fma(radius * sin, 1f, 0f);
        }
    }

    /**
     * One lane of {@code log256_ps} (avx_mathfun.h, Cephes {@code logf}). The {@code Math.fma} calls are where GCC
     * contracts a multiply whose only use is an add or subtract; the remaining products are rounded on their own.
     */
    static float log256(float value) {
        boolean invalid = value <= 0f;
        // _mm256_max_ps(x, min_norm_pos) returns its second operand unless the first is greater (NaN included).
        float x = value > Float.MIN_NORMAL ? value : Float.MIN_NORMAL;
        int bits = Float.floatToRawIntBits(x);
        int exponent = (bits >>> 23) - 0x7f;
        x = Float.intBitsToFloat((bits & ~0x7f800000) | Float.floatToRawIntBits(0.5f));
        float e = (float) exponent + 1f;
        boolean belowSqrtHalf = x < SQRT_HALF;
        float tmp = belowSqrtHalf ? x : 0f;
        x = x - 1f;
        e = e - (belowSqrtHalf ? 1f : 0f);
        x = x + tmp;
        float z = x * x;
        float y = LOG_POLYNOMIAL[0];
        for (int i = 1; i < LOG_POLYNOMIAL.length; i++) {
            y = Math.fma(y, x, LOG_POLYNOMIAL[i]);
        }
        y = y * x;
        tmp = e * LOG_Q1;
        y = Math.fma(y, z, tmp);
        y = Math.fma(-z, 0.5f, y);
        x = x + y;
        x = Math.fma(e, LOG_Q2, x);
        return invalid ? Float.NaN : x;
    }

    /**
     * One lane of {@code sincos256_ps} (avx_mathfun.h, Cephes {@code sinf}/{@code cosf}), with GCC's FMA
     * contractions as in {@link #log256}.
     *
     * @return the sine's bits in the high 32 bits and the cosine's in the low 32 bits
     */
    static long sincos256(float value) {
        boolean negativeSin = Float.floatToRawIntBits(value) < 0;
        float x = Math.abs(value);
        float y = x * FOUR_OVER_PI;
        int octant = (int) y;
        octant = (octant + 1) & ~1;
        y = (float) octant;
        boolean swapSinSign = (octant & 4) != 0;
        boolean sinFromSinPolynomial = (octant & 2) == 0;
        // Extended precision modular arithmetic: x = ((x - y * DP1) - y * DP2) - y * DP3.
        x = Math.fma(y, MINUS_DP1, x);
        x = Math.fma(y, MINUS_DP2, x);
        x = Math.fma(y, MINUS_DP3, x);
        boolean negativeCos = (~(octant - 2) & 4) != 0;
        negativeSin ^= swapSinSign;

        float z = x * x;
        float cosPolynomial = Math.fma(COS_P0, z, COS_P1);
        cosPolynomial = Math.fma(cosPolynomial, z, COS_P2);
        cosPolynomial = cosPolynomial * z;
        float halfZ = z * 0.5f;
        cosPolynomial = Math.fma(cosPolynomial, z, -halfZ);
        cosPolynomial = cosPolynomial + 1f;

        float sinPolynomial = Math.fma(SIN_P0, z, SIN_P1);
        sinPolynomial = Math.fma(sinPolynomial, z, SIN_P2);
        sinPolynomial = sinPolynomial * z;
        sinPolynomial = Math.fma(sinPolynomial, x, x);

        // The header selects with masks and adds: an exact selection, except that -0 parts come out as +0.
        float sinFromCos = sinFromSinPolynomial ? 0f : cosPolynomial;
        float sinFromSin = sinFromSinPolynomial ? sinPolynomial : 0f;
        float sin = sinFromCos + sinFromSin;
        float cos = (cosPolynomial - sinFromCos) + (sinPolynomial - sinFromSin);
        if (negativeSin) {
            sin = -sin;
        }
        if (negativeCos) {
            cos = -cos;
        }
        return ((long) Float.floatToRawIntBits(sin) << 32) | (Float.floatToRawIntBits(cos) & 0xffffffffL);
    }

    /** {@code at::normal_distribution<double>(0, 1)} with the generator's cached second value. */
    private double nextScalarNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = nextUniformDouble();
        double u2 = nextUniformDouble();
        // 1 - u2 is exact for a 53-bit u2, so this equals the log1p(-u2) of later PyTorch releases.
        double radius = Math.sqrt(-2.0 * StrictMath.log(1.0 - u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = radius * StrictMath.sin(theta);
        hasCachedNormal = true;
        return radius * StrictMath.cos(theta);
    }

    /** {@code CPUGeneratorImpl::random64}: the first draw is the high word. */
    private double nextUniformDouble() {
        long high = engine.nextInt() & 0xffffffffL;
        long low = engine.nextInt() & 0xffffffffL;
        return (((high << 32) | low) & DOUBLE_MANTISSA_MASK) * DOUBLE_UNIFORM_SCALE;
    }
}
