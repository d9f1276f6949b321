package dev.suppress.core;

import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.image.Images;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.FakeBackend;
import dev.suppress.core.validation.InsufficientMemoryException;
import dev.suppress.core.validation.MemoryBudget;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.text.ClipTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Each bad request is refused with one message naming the option, the word or the file. */
class RequestValidatorTest {

    private static final int HEADS = 8;
    /** SD 1.x's UNet: attention at 1/1, 1/2 and 1/4 in the down and up blocks, 1/8 in the mid block. */
    private static final UNetDescription SD15 = new UNetDescription(4, 64, 768,
            UNetDescription.PredictionType.EPSILON, sd15Layers());
    private static ClipTokenizer tokenizer;

    @TempDir
    Path folder;

    @BeforeAll
    static void loadTokenizer() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    private static List<AttentionLayerInfo> sd15Layers() {
        List<AttentionLayerInfo> layers = new ArrayList<>();
        int order = 0;
        for (int factor : new int[]{1, 2, 4}) {
            for (UNetPlace place : new UNetPlace[]{UNetPlace.DOWN, UNetPlace.UP}) {
                for (AttentionKind kind : AttentionKind.values()) {
                    layers.add(new AttentionLayerInfo(new AttentionLayerId(place, kind, order), place + "." + kind
                            + "." + order, factor, HEADS));
                }
            }
            order++;
        }
        for (AttentionKind kind : AttentionKind.values()) {
            layers.add(new AttentionLayerInfo(new AttentionLayerId(UNetPlace.MID, kind, 0), "mid." + kind, 8, HEADS));
        }
        return layers;
    }

    private static SuppressionRequest.Builder request() {
        return SuppressionRequest.builder("a man without glasses").suppress("glasses");
    }

    private static List<String> check(SuppressionRequest request) {
        return RequestValidator.check(request, tokenizer, SD15, Precision.FP32);
    }

    private static void assertRefused(Executable executable, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, executable);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "'" + part + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void aReasonableRequestPassesWithoutWarnings() {
        assertEquals(List.of(), check(request().imageSize(512).build()));
        assertEquals(List.of(), check(request().imageSize(576).build()));
    }

    @Test
    void emptyPromptIsNamed() {
        assertRefused(() -> check(SuppressionRequest.builder("  ").suppress("glasses").build()), "prompt is empty");
    }

    @Test
    void imageSizeThatTheUNetLevelsCannotDivideNamesTheMultiple() {
        assertRefused(() -> check(request().imageSize(520).build()), "imageSize 520", "65x65 latent",
                "multiple of 64", "512 or 576");
        assertRefused(() -> check(request().imageSize(8192).build()), "imageSize must be at most 4096", "8192");
    }

    @Test
    void optionRangesAreNamed() {
        assertRefused(() -> check(request().itoIterations(5000).build()), "itoIterations", "5000");
        assertRefused(() -> check(request().guidanceScale(1e6).build()), "guidanceScale", "1000000");
        // the record's own checks, kept: each names its option
        assertRefused(() -> request().tau(Double.NaN).build(), "tau", "NaN");
        assertRefused(() -> request().guidanceScale(Double.POSITIVE_INFINITY).build(), "guidanceScale", "Infinity");
        assertRefused(() -> request().alpha(Double.NaN).build(), "alpha", "NaN");
        assertRefused(() -> request().steps(0).build(), "steps", "0");
        assertRefused(() -> request().itoStepScale(Double.NaN).build(), "itoStepScale");
        assertRefused(() -> request().imageSize(500).build(), "imageSize", "multiple of 8");
    }

    @Test
    void seedLatentOfTheWrongShapeOrWithNanIsNamed() {
        assertRefused(() -> check(request().initialLatent(Tensor.zeros(1, 4, 63, 64)).build()), "initialLatent",
                "[1, 4, 63, 64]", "multiples of 8");
        float[] values = new float[4 * 64 * 64];
        values[100] = Float.NaN;
        assertRefused(() -> check(request().initialLatent(Tensor.wrapOwned(values, 1, 4, 64, 64)).build()),
                "initialLatent holds NaN", "flat index 100");
        assertRefused(() -> request().initialLatent(Tensor.zeros(4, 64, 64)).build(), "initialLatent",
                "[1, channels, h, w]");
    }

    @Test
    void truncationIsReportedAndATruncatedAwayWordIsAnError() {
        String longPrompt = "a photo of " + "a red house and ".repeat(20) + "a dog wearing glasses";
        List<String> warnings = check(SuppressionRequest.builder(longPrompt).suppress("house").build());
        assertEquals(1, warnings.size(), warnings::toString);
        assertTrue(warnings.get(0).contains("truncation removed") && warnings.get(0).contains("glasses"),
                warnings.get(0));
        SuppressionPipeline pipeline = new SuppressionPipeline(new FakeBackend(), tokenizer,
                SchedulerConfig.suppressEotReference(), FiniteDifferenceOptions.DEFAULT);
        assertRefused(() -> pipeline.generate(SuppressionRequest.builder(longPrompt).suppress("glasses").steps(5)
                .build(), ProgressListener.NONE), "'glasses'", "truncation");
        assertRefused(() -> pipeline.generate(request().suppress("hat").steps(5).build(), ProgressListener.NONE),
                "'hat'");
    }

    @Test
    void attentionThatCannotFitIsRefusedWithTheFigures() {
        // 4096 px: 512x512 latent, 262144 pixels at full resolution: 2 * 4 * 8 * 262144^2 * 4 bytes = 16 TiB
        assertEquals(2L * 4 * HEADS * 262144L * 262144L * 4, RequestValidator.attentionBytes(SD15, 512, 512,
                Precision.FP32));
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> check(request().imageSize(4096).build()));
        assertTrue(e.getMessage().contains("4096x4096 px") && e.getMessage().contains("needs about 16384.00 GiB")
                && e.getMessage().contains("available"), e.getMessage());
        // 512 px in fp16: 2 * 4 * 8 * 4096^2 * 2 bytes = 2 GiB
        assertEquals(2L << 30, RequestValidator.attentionBytes(SD15, 64, 64, Precision.FP16));
    }

    @Test
    void aTextFileNamedPngIsRefusedByName() throws IOException {
        Path fake = folder.resolve("photo.png");
        Files.writeString(fake, "not an image");
        assertRefused(() -> Images.read(fake), "Not a readable image", "photo.png");
        assertRefused(() -> Images.read(folder.resolve("missing.png")), "does not exist", "missing.png");
    }

    @Test
    void aHugeImageIsRefusedFromItsHeaderBeforeDecoding() throws IOException {
        Path huge = folder.resolve("huge.png");
        Files.write(huge, pngHeader(100_000, 100_000));
        assertRefused(() -> Images.read(huge), "huge.png", "100000x100000", "megapixels");
    }

    /** A PNG signature and IHDR chunk only: what a reader needs for the size (no pixel data is ever read). */
    private static byte[] pngHeader(int width, int height) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream chunk = new ByteArrayOutputStream();
        DataOutputStream data = new DataOutputStream(chunk);
        data.write("IHDR".getBytes(StandardCharsets.US_ASCII));
        data.writeInt(width);
        data.writeInt(height);
        data.write(new byte[]{8, 2, 0, 0, 0});
        byte[] body = chunk.toByteArray();
        out.writeInt(body.length - 4);
        out.write(body);
        CRC32 crc = new CRC32();
        crc.update(body);
        out.writeInt((int) crc.getValue());
        return bytes.toByteArray();
    }
}
