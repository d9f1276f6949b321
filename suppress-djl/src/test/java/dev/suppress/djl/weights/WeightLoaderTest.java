package dev.suppress.djl.weights;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.djl.nn.TorchRuntime;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading parameters into NDArrays: dtype conversion, alignment, and the report of mismatches. */
class WeightLoaderTest {

    @TempDir
    Path dir;

    private NDManager manager;

    @BeforeEach
    void openManager() {
        manager = TorchRuntime.newManager(Device.cpu());
    }

    @AfterEach
    void closeManager() {
        manager.close();
    }

    @Test
    void convertsHalfBfloatAndDoubleToFloat32Exactly() {
        Path file = new RawSafetensors()
                // F16 bit patterns of 1.5, -2.25, 65504 (largest half) and 2^-24 (smallest subnormal)
                .bits16("half", "F16", new long[] {2, 2}, 0x3E00, 0xC080, 0x7BFF, 0x0001)
                // BF16 bit patterns of 1.5, -2.25, 3.0e38 rounded to bfloat16
                .bits16("bfloat", "BF16", new long[] {3}, 0x3FC0, 0xC010, 0x7F62)
                .f64("double", new long[] {2}, 0.1, -1e-3)
                .write(dir.resolve("weights.safetensors"), 0);
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            assertArrayEquals(new float[] {1.5f, -2.25f, 65504f, 0x1.0p-24f},
                    loader.load("half", 2, 2).toFloatArray());
            assertArrayEquals(new float[] {1.5f, -2.25f, Float.intBitsToFloat(0x7F620000)},
                    loader.load("bfloat", 3).toFloatArray());
            assertArrayEquals(new float[] {0.1f, -1e-3f}, loader.load("double", 2).toFloatArray());
            loader.finish("test model", List.of());
        }
    }

    @Test
    void widenedBfloatWeightsLiveInLibtorchsMemoryNotInJavasCappedDirectBuffers() throws InterruptedException {
        int count = 1 << 22;
        int[] bits = new int[count];
        for (int i = 0; i < count; i++) {
            bits[i] = 0x3F80 + (i % 64); // 1.0 and the next 63 bfloat16 values
        }
        Path file = new RawSafetensors().bits16("big", "BF16", new long[] {count}, bits)
                .write(dir.resolve("big.safetensors"), 0);
        System.gc();
        Thread.sleep(200);
        long before = directBufferBytes();
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            ai.djl.ndarray.NDArray weight = loader.load("big", count);
            // the 16 MB float32 copy made in Java is garbage once libtorch has its own: Java frees it when it
            // collects, so -XX:MaxDirectMemorySize caps one tensor at a time, not the model (SDXL: 14 GB)
            long retained = Long.MAX_VALUE;
            for (int attempt = 0; attempt < 50 && retained > (4L << 20); attempt++) {
                System.gc();
                Thread.sleep(100);
                retained = directBufferBytes() - before;
            }
            assertTrue(retained <= (4L << 20), "direct buffers still hold " + retained + " bytes more than before");
            assertEquals(Float.intBitsToFloat(0x3F80 + 63 << 16), weight.getFloat(63));
        }
    }

    private static long directBufferBytes() {
        return java.lang.management.ManagementFactory.getPlatformMXBeans(java.lang.management.BufferPoolMXBean.class)
                .stream().filter(pool -> pool.getName().equals("direct"))
                .mapToLong(java.lang.management.BufferPoolMXBean::getMemoryUsed).sum();
    }

    @Test
    void readsTensorsThatStartAtUnalignedAddresses() {
        Path file = new RawSafetensors()
                .f32("weight", new long[] {3}, 1f, 2f, 3f)
                .write(dir.resolve("unaligned.safetensors"), 2);
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            assertArrayEquals(new float[] {1f, 2f, 3f}, loader.load("weight", 3).toFloatArray());
        }
    }

    @Test
    void reportsEveryMissingMisShapedWronglyTypedAndUnexpectedTensorAtOnce() {
        Path folder = dir.resolve("unet");
        folder.toFile().mkdirs();
        Path file = new RawSafetensors()
                .f32("conv_in.weight", new long[] {2, 3}, new float[6])
                .f32("down_blocks.1.attentions.0.norm.weight", new long[] {1}, 1f)
                .i64("time_embedding.linear_1.weight", new long[] {1}, 7)
                .f32("extra.bias", new long[] {5}, new float[5])
                .write(folder.resolve("diffusion_pytorch_model.safetensors"), 0);
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            assertArrayEquals(new long[] {3, 2}, loader.load("conv_in.weight", 3, 2).getShape().getShape());
            loader.load("down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", 64, 80);
            loader.load("down_blocks.1.attentions.0.norm.weight", 1);
            loader.load("time_embedding.linear_1.weight", 1);
            ModelFormatException error = assertThrows(ModelFormatException.class,
                    () -> loader.finish("UNet2DConditionModel that unet/config.json describes", List.of()));
            assertEquals("unet/diffusion_pytorch_model.safetensors does not hold the UNet2DConditionModel that "
                    + "unet/config.json describes (4 tensors in the file); 1 missing tensor: "
                    + "'down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight' [64, 80] [the file has 1 "
                    + "tensors under 'down_blocks.1.attentions.0.', none under "
                    + "'down_blocks.1.attentions.0.transformer_blocks.']; 1 tensor of the wrong shape: "
                    + "'conv_in.weight' is [2, 3], expected [3, 2]; 1 tensor of a non-float dtype: "
                    + "'time_embedding.linear_1.weight' is I64; 1 unexpected tensor: 'extra.bias' [5] (in " + file
                    + ")", error.getMessage());
            assertEquals(file, error.file());
        }
    }

    @Test
    void tensorsOfAnotherPartAreNeitherLoadedNorUnexpected() {
        Path file = new RawSafetensors()
                .f32("decoder.conv_in.bias", new long[] {1}, 1f)
                .f32("encoder.conv_in.bias", new long[] {1}, 2f)
                .f32("quant_conv.bias", new long[] {1}, 3f)
                .write(dir.resolve("vae.safetensors"), 0);
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            assertEquals(1f, loader.load("decoder.conv_in.bias", 1).toFloatArray()[0]);
            loader.finish("decoder", List.of("encoder.", "quant_conv."));
        }
    }

    @Test
    void aStandInForAMissingTensorAllocatesNothingAndHasTheExpectedShape() {
        Path file = new RawSafetensors().f32("present", new long[] {1}, 1f).write(dir.resolve("w.safetensors"), 0);
        try (WeightLoader loader = WeightLoader.open(file, manager)) {
            assertArrayEquals(new long[] {1280, 1280, 3, 3},
                    loader.load("absent", 1280, 1280, 3, 3).getShape().getShape());
        }
    }

    @Test
    void aRecordingLoaderListsWhatWasAskedForInOrderAndReadsNoFile() {
        try (WeightLoader recorder = WeightLoader.recording(manager)) {
            assertArrayEquals(new long[] {8, 4, 3, 3}, recorder.load("conv_in.weight", 8, 4, 3, 3).getShape()
                    .getShape());
            recorder.load("conv_in.bias", 8);
            assertFalse(recorder.hasPrefix("conv_in."));
            recorder.finish("test model", List.of());

            Map<String, long[]> shapes = recorder.requestedShapes();
            assertEquals(List.of("conv_in.weight", "conv_in.bias"), List.copyOf(shapes.keySet()));
            assertArrayEquals(new long[] {8, 4, 3, 3}, shapes.get("conv_in.weight"));
            assertArrayEquals(new long[] {8}, shapes.get("conv_in.bias"));
            assertNull(recorder.file());
        }
    }
}
