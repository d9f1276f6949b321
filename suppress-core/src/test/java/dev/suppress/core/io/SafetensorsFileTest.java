package dev.suppress.core.io;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SafetensorsFileTest {

    @TempDir
    Path dir;

    // ---- well-formed files ----

    @Test
    void readsTheGoldenSchedulerFile() {
        try (SafetensorsFile file = Fixtures.open("scheduler/ddim.safetensors")) {
            long[] timesteps = file.longs("timesteps");
            assertEquals(50, timesteps.length);
            assertEquals(981, timesteps[0]);
            assertEquals(1, timesteps[49]);
            assertArrayEquals(new int[] {1000}, file.tensor("betas").shape());
            assertEquals(0.00085f, file.tensor("betas").get(0), 1e-9f);
        }
    }

    @Test
    void readsAModelWeightFileLazily() {
        try (SafetensorsFile file = SafetensorsFile.open(
                Fixtures.tinyModel().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            TensorInfo convIn = file.info("conv_in.weight");
            assertArrayEquals(new long[] {32, 4, 3, 3}, convIn.shape());
            assertEquals(SafetensorsDType.F32, convIn.dtype());
            assertEquals(32 * 4 * 3 * 3, file.floats("conv_in.weight").length);
        }
    }

    @Test
    void writerRoundTripsFloat32() {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("original", Tensor.of(new float[] {1, -2, 3.5f, 0}, 2, 2));
        tensors.put("suppressed", Tensor.of(new float[] {Float.MIN_VALUE, 1e30f, -0f}, 3));
        Path path = dir.resolve("latents.safetensors");
        SafetensorsWriter.write(path, tensors);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(tensors.keySet(), file.names());
            assertEquals(tensors.get("original"), file.tensor("original"));
            assertEquals(tensors.get("suppressed"), file.tensor("suppressed"));
        }
    }

    @Test
    void convertsEveryNumericDtypeToFloat() throws IOException {
        ByteBuffer f16 = le(8).putShort((short) 0x3C00).putShort((short) 0xC000).putShort((short) 0x0001)
                .putShort((short) 0x7C00);
        ByteBuffer bf16 = le(4).putShort((short) 0x3F80).putShort((short) 0xC0A0);
        ByteBuffer f64 = le(16).putDouble(0.1).putDouble(-3);
        ByteBuffer i32 = le(8).putInt(-7).putInt(123456);
        ByteBuffer i64 = le(16).putLong(49407).putLong(-1);
        Path path = write(header(
                entry("f16", "F16", "[4]", 0, 8),
                entry("bf16", "BF16", "[2]", 8, 12),
                entry("f64", "F64", "[2]", 12, 28),
                entry("i32", "I32", "[2]", 28, 36),
                entry("i64", "I64", "[2]", 36, 52)), f16, bf16, f64, i32, i64);
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertArrayEquals(new float[] {1f, -2f, 0x1.0p-24f, Float.POSITIVE_INFINITY}, file.floats("f16"));
            assertArrayEquals(new float[] {1f, -5f}, file.floats("bf16"));
            assertArrayEquals(new float[] {0.1f, -3f}, file.floats("f64"));
            assertArrayEquals(new float[] {-7f, 123456f}, file.floats("i32"));
            assertArrayEquals(new long[] {49407, -1}, file.longs("i64"));
            assertArrayEquals(new long[] {-7, 123456}, file.longs("i32"));
        }
    }

    @Test
    void halfPrecisionConversionIsExactForEveryBitPattern() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float value = DTypeConversion.halfToFloat((short) bits);
            int exponent = (bits >>> 10) & 0x1F;
            int mantissa = bits & 0x3FF;
            double expected;
            if (exponent == 0x1F) {
                expected = mantissa == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
            } else if (exponent == 0) {
                expected = mantissa * Math.pow(2, -24);
            } else {
                expected = (1 + mantissa / 1024.0) * Math.pow(2, exponent - 15);
            }
            if ((bits & 0x8000) != 0) {
                expected = -expected;
            }
            if (Double.isNaN(expected)) {
                assertTrue(Float.isNaN(value), "bits " + Integer.toHexString(bits));
            } else {
                assertEquals(expected, value, 0.0, "bits " + Integer.toHexString(bits));
            }
        }
    }

    @Test
    void opensFilesLargerThanTwoGibibytesAndReadsTensorsPastTheLimit() throws IOException {
        long bigBytes = 600_000_000L * 4;
        String json = header(entry("big", "F32", "[600000000]", 0, bigBytes),
                entry("tail", "F32", "[2]", bigBytes, bigBytes + 8));
        byte[] headerBytes = json.getBytes(StandardCharsets.UTF_8);
        Path path = dir.resolve("sparse.safetensors");
        try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
            file.write(le(8).putLong(headerBytes.length).array());
            file.write(headerBytes);
            // a sparse file: only the last tensor is written
            file.seek(8 + headerBytes.length + bigBytes);
            file.write(le(8).putFloat(1.5f).putFloat(-2.5f).array());
        }
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertArrayEquals(new float[] {1.5f, -2.5f}, file.floats("tail"));
            ModelFormatException tooBig = assertThrows(ModelFormatException.class, () -> file.rawBytes("big"));
            assertTrue(tooBig.getMessage().contains("'big'"), tooBig.getMessage());
        }
    }

    @Test
    void missingTensorNamesWhatTheFileHas() {
        try (SafetensorsFile file = SafetensorsFile.open(
                Fixtures.tinyModel().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            ModelFormatException missing = assertThrows(ModelFormatException.class,
                    () -> file.info("down_blocks.1.attentions.0.nonexistent.weight"));
            assertTrue(missing.getMessage().contains("Missing tensor 'down_blocks.1.attentions.0.nonexistent.weight'"),
                    missing.getMessage());
            assertTrue(missing.getMessage().contains("none under 'down_blocks.1.attentions.0.nonexistent.'; under 'down_blocks.1.attentions.0.': [down_blocks.1.attentions.0."), missing.getMessage());
            assertTrue(missing.getMessage().contains("diffusion_pytorch_model.safetensors"), missing.getMessage());
        }
    }

    @Test
    void closedFileRefusesReads() throws IOException {
        Path path = write(header(entry("a", "F32", "[1]", 0, 4)), le(4).putFloat(1));
        SafetensorsFile file = SafetensorsFile.open(path);
        file.close();
        assertThrows(IllegalStateException.class, () -> file.floats("a"));
    }

    // ---- malformed and hostile files: each is a specific ModelFormatException, never an OOM ----

    @Test
    void rejectsFileShorterThanTheLengthPrefix() throws IOException {
        Path path = dir.resolve("short.safetensors");
        Files.write(path, new byte[] {1, 2, 3});
        assertMalformed(path, "fewer than the 8-byte header length");
    }

    @Test
    void rejectsHeaderLengthPastTheEndOfTheFile() throws IOException {
        Path path = dir.resolve("past-end.safetensors");
        Files.write(path, concat(le(8).putLong(1000).array(), "{}".getBytes(StandardCharsets.UTF_8)));
        assertMalformed(path, "runs past the end of the file");
    }

    @Test
    void rejectsAbsurdlyLargeHeaderLengthWithoutAllocating() throws IOException {
        Path path = dir.resolve("huge-header.safetensors");
        Files.write(path, concat(le(8).putLong(Long.MAX_VALUE - 5).array(), "{}".getBytes(StandardCharsets.UTF_8)));
        assertMalformed(path, "larger than the 100000000-byte limit");
        Path negative = dir.resolve("negative-header.safetensors");
        Files.write(negative, concat(le(8).putLong(-1).array(), "{}".getBytes(StandardCharsets.UTF_8)));
        assertMalformed(negative, "larger than the 100000000-byte limit");
    }

    @Test
    void rejectsInvalidJson() throws IOException {
        assertMalformed(write("{\"a\": {\"dtype\": \"F32\", "), "not valid JSON");
        assertMalformed(write("[1, 2, 3]"), "must be a JSON object");
        assertMalformed(write("{\"a\": 1}"), "'a' must be an object");
    }

    @Test
    void rejectsInvalidUtf8() throws IOException {
        Path path = dir.resolve("utf8.safetensors");
        byte[] header = {'{', '"', (byte) 0xC3, (byte) 0x28, '"', ':', '1', '}'};
        Files.write(path, concat(le(8).putLong(header.length).array(), header));
        assertMalformed(path, "not valid UTF-8");
    }

    @Test
    void rejectsDuplicateKeys() throws IOException {
        assertMalformed(write("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("a", "F32", "[1]", 4, 8) + "}",
                le(8).putFloat(1).putFloat(2)), "not valid JSON");
    }

    @Test
    void rejectsDeeplyNestedJson() throws IOException {
        assertMalformed(write("{\"__metadata__\": " + "[".repeat(5000) + "]".repeat(5000) + "}"), "not valid JSON");
    }

    @Test
    void rejectsUnknownDtype() throws IOException {
        assertMalformed(write(header(entry("w", "F33", "[1]", 0, 4)), le(4)), "unknown dtype 'F33'");
        assertMalformed(write("{\"w\": {\"dtype\": 7, \"shape\": [1], \"data_offsets\": [0, 4]}}", le(4)),
                "no string 'dtype'");
    }

    @Test
    void rejectsUnconvertibleDtypeOnAccess() throws IOException {
        Path path = write(header(entry("mask", "BOOL", "[4]", 0, 4)), le(4));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            ModelFormatException error = assertThrows(ModelFormatException.class, () -> file.floats("mask"));
            assertTrue(error.getMessage().contains("'mask' has dtype BOOL"), error.getMessage());
        }
    }

    @Test
    void rejectsBadShapes() throws IOException {
        assertMalformed(write(header(entry("w", "F32", "[-1]", 0, 4)), le(4)), "invalid dimension -1");
        assertMalformed(write(header(entry("w", "F32", "[1.5]", 0, 4)), le(4)), "invalid dimension 1.5");
        assertMalformed(write("{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", le(4)), "no 'shape' array");
        assertMalformed(write(header(entry("w", "F32", "[4294967296, 4294967296, 4294967296]", 0, 4)), le(4)),
                "overflows");
    }

    @Test
    void rejectsShapeThatDisagreesWithByteLength() throws IOException {
        assertMalformed(write(header(entry("w", "F32", "[3]", 0, 8)), le(8)),
                "'w': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8");
    }

    @Test
    void rejectsMalformedOffsets() throws IOException {
        assertMalformed(write("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", le(4)),
                "must have 'data_offsets' [begin, end]");
        assertMalformed(write(header(entry("w", "F32", "[0]", 4, 0)), le(4)), "end before begin");
        assertMalformed(write("{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", le(4)),
                "must have 'data_offsets' [begin, end]");
    }

    @Test
    void rejectsOffsetsOutOfRange() throws IOException {
        assertMalformed(write(header(entry("w", "F32", "[4]", 0, 16)), le(8)), "offsets run past the end of the file");
    }

    @Test
    void rejectsOverlappingTensors() throws IOException {
        assertMalformed(write(header(entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 4, 12)), le(12)),
                "overlap");
    }

    @Test
    void rejectsGapsAndUncoveredBytes() throws IOException {
        assertMalformed(write(header(entry("a", "F32", "[1]", 0, 4), entry("b", "F32", "[1]", 8, 12)), le(12)),
                "gap");
        assertMalformed(write(header(entry("a", "F32", "[1]", 0, 4)), le(12)), "trailing bytes not covered");
    }

    @Test
    void rejectsNonStringMetadata() throws IOException {
        assertMalformed(write("{\"__metadata__\": {\"format\": 3}}"), "'__metadata__' value for 'format'");
    }

    @Test
    void keepsStringMetadata() throws IOException {
        Path path = write("{\"__metadata__\": {\"format\": \"pt\"}," + entry("a", "F32", "[1]", 0, 4) + "}",
                le(4).putFloat(2));
        try (SafetensorsFile file = SafetensorsFile.open(path)) {
            assertEquals(Map.of("format", "pt"), file.metadata());
            assertEquals(Map.of("a", file.info("a")), file.infos());
        }
    }

    // ---- helpers ----

    private void assertMalformed(Path path, String expectedFragment) {
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> SafetensorsFile.open(path).close());
        assertTrue(error.getMessage().contains(expectedFragment),
                "message should contain \"" + expectedFragment + "\": " + error.getMessage());
        assertTrue(error.getMessage().contains(path.toString()), "message should name the file: " + error.getMessage());
        assertEquals(path, error.file());
    }

    private int fileCounter;

    private Path write(String json, ByteBuffer... data) throws IOException {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        byte[] bytes = concat(le(8).putLong(header.length).array(), header);
        for (ByteBuffer part : data) {
            bytes = concat(bytes, part.array());
        }
        Path path = dir.resolve("file" + (fileCounter++) + ".safetensors");
        Files.write(path, bytes);
        return path;
    }

    private static String header(String... entries) {
        return "{" + String.join(",", entries) + "}";
    }

    private static String entry(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": ["
                + begin + ", " + end + "]}";
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
