package dev.suppress.djl.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.GradientCollector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bfloat16 kernels against float32 libtorch: each product within what bfloat16's 8-bit significand allows, the
 * rounding itself exact (round to nearest even), gradients recorded only while a collector records.
 */
class Bf16KernelsTest {

    /**
     * Relative L2 distance of a bfloat16 product from float32's for unit-variance random inputs. Each input is
     * rounded by up to 2^-9 relative (RMS ~2^-9 / sqrt(3) = 1.1e-3); a dot product of independent terms carries
     * the rounding of both factors, ~1.6e-3 RMS, and the accumulation is float32. 5e-3 is 3x that; a float32
     * computation gives ~1e-7, so the bound also fails if the kernels silently ran in float32.
     */
    private static final double PRODUCT_RELATIVE_L2 = 5e-3;
    /** Below this the product was not computed in bfloat16. */
    private static final double AT_LEAST_BF16_ROUNDING = 5e-4;

    private final Bf16Kernels kernels = Bf16Kernels.on(Device.cpu());

    @Test
    void nativeBf16IsReadFromTheCpuFlags() {
        String zen4 = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512vl\nbugs\t\t: avx512_bf16x\n";
        String sapphireRapids = "flags\t: fpu avx512f amx_bf16 amx_tile\n";
        String skylake = "flags\t: fpu avx512f avx512bw avx512_vnni\nmodel name\t: avx512_bf16 lookalike\n";
        assertTrue(ComputePrecision.listsNativeBf16(zen4));
        assertTrue(ComputePrecision.listsNativeBf16(sapphireRapids));
        assertEquals(false, ComputePrecision.listsNativeBf16(skylake), "only the flags line counts");
        assertEquals(false, ComputePrecision.listsNativeBf16("flags\t: avx512_bf16x\n"), "whole flags only");
        assertEquals(false, ComputePrecision.listsNativeBf16(""));
    }

    @Test
    void roundingToBf16IsToNearestEvenAndExactForRepresentableValues() {
        try (NDManager manager = TorchRuntime.engine().newBaseManager(Device.cpu())) {
            float tie = 1f + 0x1p-8f; // halfway between 1 and 1 + 2^-7: ties to even, 1
            float above = 1f + 0x1p-8f + 0x1p-12f; // above halfway: 1 + 2^-7
            NDArray x = manager.create(new float[] {1.5f, -0.25f, 3.140625f, tie, above, 1e-30f});
            NDArray rounded = kernels.toBf16(x);
            assertEquals(DataType.UNKNOWN, rounded.getDataType(), "DJL cannot name bfloat16");
            float[] back = rounded.toType(DataType.FLOAT32, false).toFloatArray();
            float tiny = Float.intBitsToFloat(Float.floatToIntBits(1e-30f) + 0x8000 & 0xffff0000);
            assertArrayEquals(new float[] {1.5f, -0.25f, 3.140625f, 1f, 1f + 0x1p-7f, tiny}, back);
        }
    }

    @Test
    void convolutionMatchesFloat32WithinBf16Rounding() {
        try (NDManager manager = TorchRuntime.engine().newBaseManager(Device.cpu())) {
            manager.getEngine().setRandomSeed(11);
            NDArray x = manager.randomNormal(new Shape(2, 32, 12, 12));
            NDArray weight = manager.randomNormal(new Shape(48, 32, 3, 3));
            NDArray bias = manager.randomNormal(new Shape(48));
            for (int stride = 1; stride <= 2; stride++) {
                for (int padding = 0; padding <= 1; padding++) {
                    NDArray exact = ai.djl.nn.convolutional.Conv2d.conv2d(x, weight, bias,
                            new Shape(stride, stride), new Shape(padding, padding), new Shape(1, 1), 1)
                            .singletonOrThrow();
                    NDArray half = kernels.conv2d(x, kernels.toBf16(weight), kernels.toBf16(bias), stride, padding);
                    assertEquals(DataType.FLOAT32, half.getDataType());
                    assertEquals(exact.getShape(), half.getShape());
                    assertBf16Close(exact, half, "conv stride " + stride + " padding " + padding);
                }
            }
            assertThrows(IllegalArgumentException.class, () -> kernels.conv2d(x, weight, bias, 3, 1));
        }
    }

    @Test
    void linearAndBatchedProductMatchFloat32WithinBf16Rounding() {
        try (NDManager manager = TorchRuntime.engine().newBaseManager(Device.cpu())) {
            manager.getEngine().setRandomSeed(12);
            NDArray x = manager.randomNormal(new Shape(3, 7, 64));
            NDArray weight = manager.randomNormal(new Shape(40, 64));
            NDArray bias = manager.randomNormal(new Shape(40));
            assertBf16Close(ai.djl.nn.core.Linear.linear(x, weight, bias).singletonOrThrow(),
                    kernels.linear(x, kernels.toBf16(weight), kernels.toBf16(bias)), "linear");
            assertBf16Close(ai.djl.nn.core.Linear.linear(x, weight, null).singletonOrThrow(),
                    kernels.linear(x, kernels.toBf16(weight), null), "linear without bias");
            NDArray b = manager.randomNormal(new Shape(3, 64, 5));
            assertBf16Close(x.batchMatMul(b), kernels.batchMatMul(x, b), "bmm");
        }
    }

    @Test
    void fusedAttentionMatchesTheExplicitSoftmaxWithinBf16RoundingAndDifferentiates() {
        try (NDManager manager = TorchRuntime.engine().newBaseManager(Device.cpu())) {
            manager.getEngine().setRandomSeed(14);
            NDArray query = manager.randomNormal(new Shape(6, 50, 16)).mul(0.25f);
            NDArray key = manager.randomNormal(new Shape(6, 30, 16));
            NDArray value = manager.randomNormal(new Shape(6, 30, 16));
            NDArray exact = query.matMul(key.transpose(0, 2, 1)).softmax(-1).matMul(value);
            assertBf16Close(exact, kernels.attention(query, key, value), "attention");
            NDArray q = query.duplicate();
            q.setRequiresGradient(true);
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                collector.backward(kernels.attention(q, key, value).square().sum());
            }
            NDArray fused = q.getGradient().duplicate();
            NDArray r = query.duplicate();
            r.setRequiresGradient(true);
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                collector.backward(r.matMul(key.transpose(0, 2, 1)).softmax(-1).matMul(value).square().sum());
            }
            // the backward rounds the incoming gradient too: twice a product's stages
            double distance = fused.sub(r.getGradient()).norm().getFloat() / (double) r.getGradient().norm().getFloat();
            assertTrue(distance < 2 * PRODUCT_RELATIVE_L2 && distance > AT_LEAST_BF16_ROUNDING,
                    "attention query gradient: relative L2 " + distance);
        }
    }

    @Test
    void gradientsFlowThroughTheKernelsOnlyWhileACollectorRecords() {
        try (NDManager manager = TorchRuntime.engine().newBaseManager(Device.cpu())) {
            manager.getEngine().setRandomSeed(13);
            NDArray weight = manager.randomNormal(new Shape(16, 24));
            NDArray held = kernels.toBf16(weight);
            NDArray x = manager.randomNormal(new Shape(5, 24));
            x.setRequiresGradient(true);
            NDArray outside = kernels.linear(x, held, null);
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                assertThrows(RuntimeException.class, () -> collector.backward(outside.sum()),
                        "a kernel run outside a collector recorded a graph");
            }
            try (GradientCollector collector = manager.getEngine().newGradientCollector()) {
                collector.backward(kernels.linear(x, held, null).square().sum());
            }
            NDArray gradient = x.getGradient().duplicate();
            // d/dx sum((x W^T)^2) = 2 (x W^T) W, in float32 with the rounded W
            NDArray rounded = held.toType(DataType.FLOAT32, false);
            NDArray expected = x.stopGradient().matMul(rounded.transpose()).mul(2f).matMul(rounded);
            assertBf16Close(expected, gradient, "input gradient");
        }
    }

    private static void assertBf16Close(NDArray exact, NDArray half, String what) {
        double distance = half.sub(exact).norm().getFloat() / (double) exact.norm().getFloat();
        assertTrue(distance < PRODUCT_RELATIVE_L2, what + ": relative L2 " + distance);
        assertTrue(distance > AT_LEAST_BF16_ROUNDING, what + ": relative L2 " + distance + ", not bfloat16");
    }
}
