package dev.suppress.core;

import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.FakeBackend;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.validation.InsufficientMemoryException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Requests whose width and height differ: the latent, the maps and the checks follow both sides. */
class RectangularImageTest {

    private static final FiniteDifferenceOptions FINITE_DIFFERENCES =
            new FiniteDifferenceOptions(FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 2, 1e-2, 0);
    private static final int HEADS = 8;
    /** SD 1.x's UNet: attention at 1/1, 1/2 and 1/4 in the down and up blocks, 1/8 in the mid block. */
    private static final UNetDescription SD15 = new UNetDescription(4, 64, 768,
            UNetDescription.PredictionType.EPSILON, sd15Layers());
    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void loadTokenizer() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    private static List<AttentionLayerInfo> sd15Layers() {
        List<AttentionLayerInfo> layers = new ArrayList<>();
        int order = 0;
        for (int factor : new int[] {1, 2, 4}) {
            for (UNetPlace place : new UNetPlace[] {UNetPlace.DOWN, UNetPlace.UP}) {
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

    /** 6 steps, ITO (1 iteration) at steps 1 and 2, on the fake backend (attention at 1/1, 1/2, 1/4). */
    private static SuppressionRequest.Builder request() {
        return SuppressionRequest.builder("a man without glasses").suppress("glasses").seed(7).steps(6).tau(0.8)
                .maxItoStep(3).itoIterations(1).mode(Mode.REFERENCE);
    }

    private static SuppressionResult generate(SuppressionRequest request) {
        return new SuppressionPipeline(new FakeBackend(), tokenizer, SchedulerConfig.suppressEotReference(),
                FINITE_DIFFERENCES).generate(request, ProgressListener.NONE);
    }

    private static void assertRefused(Executable executable, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, executable);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "'" + part + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void theBuilderKeepsImageSizeAsBothSides() {
        SuppressionRequest square = request().imageSize(256).build();
        assertEquals(256, square.width());
        assertEquals(256, square.height());
        assertEquals(256, square.imageSize());
        SuppressionRequest wide = request().width(256).height(192).build();
        assertEquals(256, wide.width());
        assertEquals(192, wide.height());
        assertEquals(wide, request().size(256, 192).build());
        assertEquals(wide, wide.toBuilder().build());
        assertThrows(IllegalStateException.class, wide::imageSize);
    }

    @Test
    void aRectangleGivesALatentAndMapsOfItsHeightAndWidth() {
        // width 64, height 32: latent [1, 4, 4, 8]; levels 4x8, 2x4 (and the mid block's 1x2); sqrt(4*8) = 5.7 is
        // nearest to 16
        SuppressionResult result = generate(request().width(64).height(32).build());
        assertArrayEquals(new int[] {1, 4, 4, 8}, result.suppressedLatent().shape());
        assertEquals(64, result.suppressed().getWidth());
        assertEquals(32, result.suppressed().getHeight());
        assertEquals(64, result.original().getWidth());
        assertEquals(32, result.original().getHeight());
        assertArrayEquals(new int[] {4, 8, 77}, result.attention().original().shape());
        assertEquals(4, result.attention().height());
        assertEquals(8, result.attention().width());
        assertEquals(8, result.attentionResolution());
        assertArrayEquals(new int[] {4, 8}, result.attention().map(4, true).shape());
        assertThrows(IllegalStateException.class, () -> result.attention().resolution());
        assertFalse(result.itoSteps().isEmpty());
        for (SuppressionResult.ItoStep step : result.itoSteps()) {
            for (double loss : step.losses()) {
                assertTrue(Double.isFinite(loss), "ITO loss at step " + step.stepIndex());
            }
        }
    }

    @Test
    void theTransposedSizeHasTheTransposedShapes() {
        // the fake backend is not spatial (its maps are functions of flat indices), so only the shapes can tell
        // the two apart here; the DJL backend's test compares the images
        SuppressionResult tall = generate(request().width(32).height(64).build());
        assertArrayEquals(new int[] {1, 4, 8, 4}, tall.suppressedLatent().shape());
        assertArrayEquals(new int[] {8, 4, 77}, tall.attention().original().shape());
        assertEquals(32, tall.suppressed().getWidth());
        assertEquals(64, tall.suppressed().getHeight());
    }

    @Test
    void anExplicitResolutionNamesTheLevelByItsLargerSide() {
        assertEquals(4, generate(request().width(64).height(32).attentionResolution(4).build())
                .attention().width());
        assertRefused(() -> generate(request().width(64).height(32).attentionResolution(2).build()),
                "larger side is 2", "4x8", "2x4");
    }

    @Test
    void theLevelNearest16ForRectanglesComparesGeometricMeanSides() {
        // 768x512 px on SD 1.x: latent 64 high, 96 wide; levels 64x96, 32x48, 16x24 (mean side 19.6), 8x12 (9.8)
        assertEquals(4, SuppressionPipeline.attentionFactor(0, SD15, 64, 96));
        // 1024x256 px: latent 32x128; 8x32 (16.0) is exact
        assertEquals(4, SuppressionPipeline.attentionFactor(0, SD15, 32, 128));
        // squares pick as before: 512 px -> 16 (factor 4); 768 px -> 24 of 96, 48, 24 (no cross layer at 1/8
        // outside the mid block); 256 px -> 16 (factor 2)
        assertEquals(4, SuppressionPipeline.attentionFactor(0, SD15, 64, 64));
        assertEquals(4, SuppressionPipeline.attentionFactor(0, SD15, 96, 96));
        assertEquals(2, SuppressionPipeline.attentionFactor(0, SD15, 32, 32));
        assertEquals(2, SuppressionPipeline.attentionFactor(48, SD15, 64, 96));
    }

    @Test
    void validationNamesWidthAndHeight() {
        assertRefused(() -> request().width(260).height(256).build(), "width must be a multiple of 8", "260");
        assertRefused(() -> request().width(256).height(-8).build(), "height must be a multiple of 8", "-8");
        assertRefused(() -> check(request().width(512).height(520).build()), "height 520", "multiple of 64");
        assertRefused(() -> check(request().width(8192).height(512).build()), "width must be at most 4096");
        assertEquals(List.of(), check(request().width(768).height(512).build()));
        assertEquals(List.of(), check(request().width(0).height(384).build()));
    }

    @Test
    void theMemoryCheckCountsWidthTimesHeight() {
        // 4096 x 2048 px: latent 256 x 512, 131072 pixels at full resolution: 2 * 4 * 8 * 131072^2 * 4 bytes = 4 TiB
        assertEquals(2L * 4 * HEADS * 131072L * 131072L * 4, RequestValidator.attentionBytes(SD15, 256, 512,
                Precision.FP32));
        InsufficientMemoryException e = assertThrows(InsufficientMemoryException.class,
                () -> check(request().width(4096).height(2048).build()));
        assertTrue(e.getMessage().contains("4096x2048 px (width x height)") && e.getMessage().contains("4096.00 GiB"),
                e.getMessage());
    }

    @Test
    void editingAndInversionRefuseARectangleByItsSides() {
        BufferedImage photo = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        assertRefused(() -> ImageEditRequest.builder(photo, "a man without glasses").suppress("glasses")
                .suppression(options -> options.width(256).height(192)).build(), "Editing", "width 256", "height 192");
        assertRefused(() -> InversionRequest.builder(photo, "a man").width(256).height(192).build(), "Inversion",
                "width 256", "height 192");
        assertEquals(256, InversionRequest.builder(photo, "a man").width(256).height(256).build().imageSize());
        assertEquals(192, new ImageEditRequest(photo, Inversion.NEGATIVE_PROMPT, NullTextOptions.REFERENCE,
                request().imageSize(192).build()).inversionRequest().imageSize());
    }

    private static List<String> check(SuppressionRequest request) {
        return RequestValidator.check(request, tokenizer, SD15, Precision.FP32);
    }
}
