package dev.suppress.core.attention;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionAggregatorTest {

    /**
     * torch sums the three float32 layer maps in float32 and divides (a few float32 ulps of values up to 1); we sum
     * in float64 and round once.
     */
    private static final Tolerance AGGREGATE_PARITY = new Tolerance(1e-6, 1e-7,
            "float32 summation in torch vs float64 accumulation here");
    /** Both sides average float32 values in float64 and round once; only the summation order differs. */
    private static final Tolerance PLAIN_VERSION = new Tolerance(1e-6, 1e-7, "float64 summation order");
    /** <aggregate(r), g> vs sum <r, adjoint(g)>: the aggregate is rounded to float32 once. */
    private static final double ADJOINT_RELATIVE = 1e-5;

    /** The tiny fixture UNet (MANIFEST.md): latent 32, attention at 32 (down0, up3), 16 (down1, up2), 8, 4 (mid). */
    private static final int TINY_LATENT_SIDE = 32;
    private static final int TINY_HEADS = 2;

    @Test
    void reproducesTheReferenceCrossMapsOfTheFixtureUNet() {
        List<AttentionLayerInfo> layers = tinyUNetLayers();
        AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
        AttentionAggregator aggregator = new AttentionAggregator(layers, TINY_LATENT_SIDE, capture);
        try (SafetensorsFile unet = Fixtures.open("components/unet.safetensors")) {
            AttentionMaps maps = aggregator.aggregate(requiredProbabilities(aggregator, unet));
            assertArrayEquals(new int[] {1, 16, 16, 77}, maps.cross().shape());
            assertArrayEquals(new int[] {1, 16, 16, 256}, maps.self().shape());
            Tensor expectedCross = unet.tensor("agg_cross16_t981");
            TensorAssertions.assertClose("agg_cross16_t981", expectedCross.reshape(1, 16, 16, 77), maps.cross(),
                    AGGREGATE_PARITY);
            Tensor expectedSelf = unet.tensor("agg_self16_t981");
            TensorAssertions.assertClose("agg_self16_t981", expectedSelf.reshape(1, 16, 16, 256), maps.self(),
                    AGGREGATE_PARITY);
        }
        // Cross: down1, up2 x2 (the reference's ["up", "down"]); self adds mid, which has no 16x16 layer.
        assertEquals(3, aggregator.crossHeadCount());
        assertEquals(3, aggregator.selfHeadCount());
        assertEquals(6, aggregator.requiredLayers().size());
    }

    @Test
    void matchesAPlainAverageForBatchesOddHeadsAndBothModes() {
        Random random = new Random(345);
        List<AttentionLayerInfo> layers = List.of(
                layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 1, 3),
                layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 1, 3),
                layer(UNetPlace.DOWN, AttentionKind.SELF, 1, 2, 2),
                layer(UNetPlace.DOWN, AttentionKind.CROSS, 1, 2, 2),
                layer(UNetPlace.MID, AttentionKind.SELF, 0, 1, 5),
                layer(UNetPlace.MID, AttentionKind.CROSS, 0, 1, 5),
                layer(UNetPlace.UP, AttentionKind.SELF, 0, 1, 1),
                layer(UNetPlace.UP, AttentionKind.CROSS, 0, 1, 1));
        int latentSide = 4;
        int batch = 2;
        int keys = 7;
        Map<AttentionLayerId, Tensor> probabilities = new HashMap<>();
        for (AttentionLayerInfo info : layers) {
            int pixels = info.resolution(latentSide) * info.resolution(latentSide);
            int layerKeys = info.id().kind() == AttentionKind.CROSS ? keys : pixels;
            probabilities.put(info.id(), randomTensor(random, batch * info.heads(), pixels, layerKeys));
        }
        for (HeadAveraging averaging : HeadAveraging.values()) {
            AttentionCapture capture = new AttentionCapture(4, EnumSet.of(UNetPlace.UP, UNetPlace.DOWN),
                    EnumSet.allOf(UNetPlace.class), averaging, Set.of());
            AttentionMaps maps = new AttentionAggregator(layers, latentSide, capture).aggregate(probabilities);
            assertArrayEquals(new int[] {batch, 4, 4, keys}, maps.cross().shape());
            assertArrayEquals(new int[] {batch, 4, 4, 16}, maps.self().shape());
            TensorAssertions.assertClose("cross " + averaging,
                    plainAverage(layers, probabilities, capture, latentSide, AttentionKind.CROSS, batch, keys),
                    maps.cross().toDoubleArray(), PLAIN_VERSION);
            TensorAssertions.assertClose("self " + averaging,
                    plainAverage(layers, probabilities, capture, latentSide, AttentionKind.SELF, batch, 16),
                    maps.self().toDoubleArray(), PLAIN_VERSION);
        }
    }

    @Test
    void backpropagateIsTheAdjointOfAggregate() {
        Random random = new Random(346);
        List<AttentionLayerInfo> layers = List.of(
                layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 1, 4),
                layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 1, 4),
                layer(UNetPlace.UP, AttentionKind.SELF, 0, 1, 3),
                layer(UNetPlace.UP, AttentionKind.CROSS, 0, 1, 3),
                layer(UNetPlace.UP, AttentionKind.CROSS, 1, 2, 3));
        int latentSide = 3;
        int batch = 2;
        int keys = 5;
        for (HeadAveraging averaging : HeadAveraging.values()) {
            AttentionCapture capture = new AttentionCapture(3, EnumSet.of(UNetPlace.UP, UNetPlace.DOWN),
                    EnumSet.of(UNetPlace.UP, UNetPlace.DOWN), averaging, Set.of());
            AttentionAggregator aggregator = new AttentionAggregator(layers, latentSide, capture);
            Map<AttentionLayerId, Tensor> probabilities = new HashMap<>();
            for (AttentionLayerInfo info : aggregator.requiredLayers()) {
                int layerKeys = info.id().kind() == AttentionKind.CROSS ? keys : 9;
                probabilities.put(info.id(), randomTensor(random, batch * info.heads(), 9, layerKeys));
            }
            Tensor crossGradient = randomTensor(random, batch, 3, 3, keys);
            Tensor selfGradient = randomTensor(random, batch, 3, 3, 9);
            AttentionMaps maps = aggregator.aggregate(probabilities);
            double forward = dot(maps.cross(), crossGradient) + dot(maps.self(), selfGradient);
            Map<AttentionLayerId, Tensor> layerGradients = aggregator.backpropagate(crossGradient, selfGradient);
            assertEquals(4, layerGradients.size(), "gradients for every averaged layer, none for up_cross_1 (2x2)");
            double backward = 0;
            for (Map.Entry<AttentionLayerId, Tensor> entry : layerGradients.entrySet()) {
                Tensor raw = probabilities.get(entry.getKey());
                assertArrayEquals(raw.shape(), entry.getValue().shape(), entry.getKey().toString());
                backward += dot(raw, entry.getValue());
            }
            assertEquals(forward, backward, ADJOINT_RELATIVE * Math.abs(forward), averaging.toString());
        }
    }

    @Test
    void firstHalfOfHeadsIgnoresTheOtherHeadsEntirely() {
        List<AttentionLayerInfo> layers = List.of(layer(UNetPlace.UP, AttentionKind.CROSS, 0, 1, 2),
                layer(UNetPlace.UP, AttentionKind.SELF, 0, 1, 2));
        AttentionCapture capture = new AttentionCapture(1, EnumSet.of(UNetPlace.UP), EnumSet.of(UNetPlace.UP),
                HeadAveraging.FIRST_HALF_OF_HEADS, Set.of());
        AttentionAggregator aggregator = new AttentionAggregator(layers, 1, capture);
        // batch 2, heads 2: rows are (b0 h0, b0 h1, b1 h0, b1 h1).
        Map<AttentionLayerId, Tensor> probabilities = Map.of(
                layers.get(0).id(), Tensor.of(new float[] {0.25f, 0.75f, 9, 9, 0.5f, 0.5f, 9, 9}, 4, 1, 2),
                layers.get(1).id(), Tensor.of(new float[] {1, 9, 1, 9}, 4, 1, 1));
        AttentionMaps maps = aggregator.aggregate(probabilities);
        assertArrayEquals(new float[] {0.25f, 0.75f, 0.5f, 0.5f}, maps.cross().toArray());
        assertArrayEquals(new float[] {1, 1}, maps.self().toArray());
        Map<AttentionLayerId, Tensor> gradients = aggregator.backpropagate(
                Tensor.of(new float[] {1, 2, 3, 4}, 2, 1, 1, 2), null);
        assertEquals(Set.of(layers.get(0).id()), gradients.keySet());
        assertArrayEquals(new float[] {1, 2, 0, 0, 3, 4, 0, 0}, gradients.get(layers.get(0).id()).toArray());
    }

    @Test
    void returnsTheRawLayersTheCaptureAsksFor() {
        List<AttentionLayerInfo> layers = List.of(layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 1, 1),
                layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 1, 1), layer(UNetPlace.MID, AttentionKind.CROSS, 0, 2, 1));
        AttentionLayerId midCross = layers.get(2).id();
        AttentionCapture capture = new AttentionCapture(2, EnumSet.of(UNetPlace.DOWN), EnumSet.of(UNetPlace.DOWN),
                HeadAveraging.ALL_HEADS, Set.of(midCross));
        AttentionAggregator aggregator = new AttentionAggregator(layers, 2, capture);
        assertEquals(layers, aggregator.requiredLayers());
        Tensor mid = Tensor.of(new float[] {0.5f, 0.5f}, 1, 1, 2);
        AttentionMaps maps = aggregator.aggregate(Map.of(
                layers.get(0).id(), Tensor.zeros(1, 4, 2),
                layers.get(1).id(), Tensor.zeros(1, 4, 4),
                midCross, mid));
        assertEquals(Map.of(midCross, mid), maps.raw());
    }

    @Test
    void anEmptyPlaceSetGivesAnEmptyMap() {
        List<AttentionLayerInfo> layers = List.of(layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 1, 1),
                layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 1, 1));
        AttentionCapture capture = new AttentionCapture(2, EnumSet.of(UNetPlace.DOWN), Set.of(),
                HeadAveraging.ALL_HEADS, Set.of());
        AttentionAggregator aggregator = new AttentionAggregator(layers, 2, capture);
        AttentionMaps maps = aggregator.aggregate(Map.of(layers.get(0).id(), Tensor.zeros(3, 4, 5)));
        assertArrayEquals(new int[] {3, 2, 2, 5}, maps.cross().shape());
        assertArrayEquals(new int[] {3, 2, 2, 0}, maps.self().shape());
    }

    @Test
    void rejectsACaptureWithoutLayersAtItsResolution() {
        List<AttentionLayerInfo> layers = tinyUNetLayers();
        AttentionCapture capture = AttentionCapture.reference(12, HeadAveraging.ALL_HEADS);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new AttentionAggregator(layers, TINY_LATENT_SIDE, capture));
        assertTrue(error.getMessage().contains("12x12") && error.getMessage().contains("[32, 16, 8]"),
                error.getMessage());
    }

    @Test
    void rejectsMissingAndMisshapenProbabilities() {
        List<AttentionLayerInfo> layers = List.of(layer(UNetPlace.UP, AttentionKind.CROSS, 0, 1, 2),
                layer(UNetPlace.UP, AttentionKind.SELF, 0, 1, 2));
        AttentionCapture capture = new AttentionCapture(2, EnumSet.of(UNetPlace.UP), EnumSet.of(UNetPlace.UP),
                HeadAveraging.ALL_HEADS, Set.of());
        AttentionAggregator aggregator = new AttentionAggregator(layers, 2, capture);
        AttentionLayerId cross = layers.get(0).id();
        AttentionLayerId self = layers.get(1).id();
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> aggregator.aggregate(Map.of(cross, Tensor.zeros(2, 4, 77))));
        assertTrue(missing.getMessage().contains("up_self_0"), missing.getMessage());
        IllegalArgumentException pixels = assertThrows(IllegalArgumentException.class,
                () -> aggregator.aggregate(Map.of(cross, Tensor.zeros(2, 9, 77), self, Tensor.zeros(2, 4, 4))));
        assertTrue(pixels.getMessage().contains("[2, 9, 77]"), pixels.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> aggregator.aggregate(Map.of(cross, Tensor.zeros(3, 4, 77), self, Tensor.zeros(3, 4, 4))));
        IllegalArgumentException batches = assertThrows(IllegalArgumentException.class,
                () -> aggregator.aggregate(Map.of(cross, Tensor.zeros(2, 4, 77), self, Tensor.zeros(4, 4, 4))));
        assertTrue(batches.getMessage().contains("batch"), batches.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> aggregator.backpropagate(Tensor.zeros(1, 2, 2, 77), Tensor.zeros(1, 2, 2, 5)));
        assertThrows(IllegalArgumentException.class, () -> new AttentionAggregator(
                List.of(layers.get(0), layers.get(0)), 2, capture));
        assertThrows(IllegalArgumentException.class, () -> new AttentionAggregator(layers, 2,
                capture.withRawLayers(Set.of(new AttentionLayerId(UNetPlace.MID, AttentionKind.SELF, 0)))));
    }

    /** The fixture UNet's 20 attention layers from manifest.json ({@code attention_layer_names}). */
    static List<AttentionLayerInfo> tinyUNetLayers() {
        JsonNode names = manifest().path("files").path("components/unet.safetensors").path("attention_layer_names");
        if (!names.isObject() || names.size() != 20) {
            throw new AssertionError("manifest.json lacks the 20 attention_layer_names of components/unet.safetensors");
        }
        List<AttentionLayerInfo> layers = new ArrayList<>();
        for (Map.Entry<String, JsonNode> entry : names.properties()) {
            String[] parts = entry.getKey().split("_");
            AttentionLayerId id = new AttentionLayerId(UNetPlace.valueOf(parts[0].toUpperCase(Locale.ROOT)),
                    AttentionKind.valueOf(parts[1].toUpperCase(Locale.ROOT)), Integer.parseInt(parts[2]));
            String path = entry.getValue().asText();
            layers.add(new AttentionLayerInfo(id, path, tinyDownsampleFactor(path), TINY_HEADS));
        }
        return layers;
    }

    /** down_blocks.k at 32 / 2^k, mid at 4, up_blocks.k at 32 / 2^(3-k) (MANIFEST.md, the tiny pipeline). */
    private static int tinyDownsampleFactor(String modulePath) {
        if (modulePath.startsWith("down_blocks.")) {
            return 1 << Integer.parseInt(modulePath.substring(12, 13));
        }
        if (modulePath.startsWith("up_blocks.")) {
            return 1 << (3 - Integer.parseInt(modulePath.substring(10, 11)));
        }
        if (modulePath.startsWith("mid_block.")) {
            return 8;
        }
        throw new AssertionError("Unexpected attention module path " + modulePath);
    }

    /** The fixture's raw t=981 probabilities of the layers the aggregator needs. */
    static Map<AttentionLayerId, Tensor> requiredProbabilities(AttentionAggregator aggregator, SafetensorsFile unet) {
        Map<AttentionLayerId, Tensor> probabilities = new HashMap<>();
        for (AttentionLayerInfo info : aggregator.requiredLayers()) {
            // Only the 32x32 self layers are stored partially (rows 0..63); none is needed at 16x16.
            probabilities.put(info.id(), unet.tensor("attn_t981_" + info.id().referenceName()));
        }
        return probabilities;
    }

    static JsonNode manifest() {
        try {
            return new ObjectMapper().readTree(Fixtures.path("manifest.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void aRectangularLatentGivesMapsOfItsHeightAndWidth() {
        Random random = new Random(348);
        List<AttentionLayerInfo> layers = List.of(
                layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 1, 2),
                layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 1, 2),
                layer(UNetPlace.MID, AttentionKind.SELF, 0, 2, 3),
                layer(UNetPlace.MID, AttentionKind.CROSS, 0, 2, 3),
                layer(UNetPlace.UP, AttentionKind.SELF, 0, 1, 3),
                layer(UNetPlace.UP, AttentionKind.CROSS, 0, 1, 3));
        int latentHeight = 4;
        int latentWidth = 6;
        int batch = 2;
        int keys = 7;
        Map<AttentionLayerId, Tensor> probabilities = new HashMap<>();
        for (AttentionLayerInfo info : layers) {
            int pixels = info.resolution(latentHeight) * info.resolution(latentWidth);
            int layerKeys = info.id().kind() == AttentionKind.CROSS ? keys : pixels;
            probabilities.put(info.id(), softmaxRows(random, batch * info.heads(), pixels, layerKeys));
        }
        for (HeadAveraging averaging : HeadAveraging.values()) {
            AttentionCapture capture = AttentionCapture.reference(4, 6, averaging);
            AttentionAggregator aggregator = new AttentionAggregator(layers, latentHeight, latentWidth, capture);
            AttentionMaps maps = aggregator.aggregate(probabilities);
            assertArrayEquals(new int[] {batch, 4, 6, keys}, maps.cross().shape());
            assertArrayEquals(new int[] {batch, 4, 6, 24}, maps.self().shape());
            assertEquals(4, maps.height());
            assertEquals(6, maps.width());
            // every query pixel's probabilities still sum to one after averaging, as for squares
            for (Tensor map : List.of(maps.cross(), maps.self())) {
                int rowLength = map.dim(3);
                for (int row = 0; row < map.size() / rowLength; row++) {
                    double sum = 0;
                    for (int k = 0; k < rowLength; k++) {
                        sum += map.get(row * rowLength + k);
                    }
                    assertEquals(1.0, sum, 1e-5, "row " + row + " of " + map);
                }
            }
            TensorAssertions.assertClose("rectangular cross " + averaging, plainAverage(layers, probabilities,
                    capture, latentHeight, latentWidth, AttentionKind.CROSS, batch, keys),
                    maps.cross().toDoubleArray(), PLAIN_VERSION);
            TensorAssertions.assertClose("rectangular self " + averaging, plainAverage(layers, probabilities,
                    capture, latentHeight, latentWidth, AttentionKind.SELF, batch, 24),
                    maps.self().toDoubleArray(), PLAIN_VERSION);
            Tensor crossGradient = randomTensor(random, batch, 4, 6, keys);
            Tensor selfGradient = randomTensor(random, batch, 4, 6, 24);
            double forward = dot(maps.cross(), crossGradient) + dot(maps.self(), selfGradient);
            double backward = 0;
            for (Map.Entry<AttentionLayerId, Tensor> entry
                    : aggregator.backpropagate(crossGradient, selfGradient).entrySet()) {
                backward += dot(probabilities.get(entry.getKey()), entry.getValue());
            }
            assertEquals(forward, backward, ADJOINT_RELATIVE * Math.abs(forward), averaging.toString());
            assertThrows(IllegalArgumentException.class, () -> aggregator.backpropagate(
                    randomTensor(random, batch, 6, 4, keys), null));
        }
        AttentionMaps coarse = new AttentionAggregator(layers, latentHeight, latentWidth,
                new AttentionCapture(2, 3, Set.of(UNetPlace.MID), Set.of(UNetPlace.MID), HeadAveraging.ALL_HEADS,
                        Set.of())).aggregate(probabilities);
        assertArrayEquals(new int[] {batch, 2, 3, 6}, coarse.self().shape());
        // the transposed capture is not the same level: there is none at 6x4 for a 4x6 latent
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> new AttentionAggregator(layers, latentHeight, latentWidth,
                        AttentionCapture.reference(6, 4, HeadAveraging.ALL_HEADS)));
        assertTrue(error.getMessage().contains("6x4") && error.getMessage().contains("[4x6]")
                && error.getMessage().contains("4x6 (height x width) latent"), error.getMessage());
        // layers of the wrong shape are named with the rectangle
        Map<AttentionLayerId, Tensor> misshapen = new HashMap<>(probabilities);
        AttentionLayerInfo down = layers.get(1);
        misshapen.put(down.id(), softmaxRows(random, batch * down.heads(), 24 + 1, keys));
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> new AttentionAggregator(layers, latentHeight, latentWidth,
                        AttentionCapture.reference(4, 6, HeadAveraging.ALL_HEADS)).aggregate(misshapen));
        assertTrue(shape.getMessage().contains("4x6 map") && shape.getMessage().contains("latent 4x6"),
                shape.getMessage());
    }

    /** Rows of positive values that sum to one, as softmax probabilities. */
    private static Tensor softmaxRows(Random random, int rows, int pixels, int keys) {
        float[] values = new float[rows * pixels * keys];
        for (int row = 0; row < rows * pixels; row++) {
            double sum = 0;
            for (int k = 0; k < keys; k++) {
                values[row * keys + k] = 0.05f + random.nextFloat();
                sum += values[row * keys + k];
            }
            for (int k = 0; k < keys; k++) {
                values[row * keys + k] = (float) (values[row * keys + k] / sum);
            }
        }
        return Tensor.of(values, rows, pixels, keys);
    }

    /** {@link #plainAverage} over the layers that a rectangular latent's capture selects. */
    private static double[] plainAverage(List<AttentionLayerInfo> layers, Map<AttentionLayerId, Tensor> probabilities,
                                         AttentionCapture capture, int latentHeight, int latentWidth,
                                         AttentionKind kind, int batch, int keys) {
        List<AttentionLayerInfo> selected = new ArrayList<>();
        for (AttentionLayerInfo info : layers) {
            if (info.id().kind() == kind && capture.aggregates(info, latentHeight, latentWidth)) {
                selected.add(info);
            }
        }
        int pixels = capture.height() * capture.width();
        double[] out = new double[batch * pixels * keys];
        for (int b = 0; b < batch; b++) {
            for (int e = 0; e < pixels * keys; e++) {
                double sum = 0;
                int count = 0;
                for (AttentionLayerInfo info : selected) {
                    int kept = capture.headAveraging() == HeadAveraging.ALL_HEADS ? info.heads()
                            : (info.heads() + 1) / 2;
                    for (int h = 0; h < kept; h++) {
                        sum += probabilities.get(info.id()).get((b * info.heads() + h) * pixels * keys + e);
                        count++;
                    }
                }
                out[b * pixels * keys + e] = sum / count;
            }
        }
        return out;
    }

    private static AttentionLayerInfo layer(UNetPlace place, AttentionKind kind, int order, int factor, int heads) {
        return new AttentionLayerInfo(new AttentionLayerId(place, kind, order), place + "." + kind + "." + order,
                factor, heads);
    }

    private static Tensor randomTensor(Random random, int... shape) {
        int size = 1;
        for (int dimension : shape) {
            size *= dimension;
        }
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = random.nextFloat();
        }
        return Tensor.of(values, shape);
    }

    private static double dot(Tensor a, Tensor b) {
        double sum = 0;
        for (int i = 0; i < a.size(); i++) {
            sum += (double) a.get(i) * b.get(i);
        }
        return sum;
    }

    /** The mean over selected (layer, head) pairs, straight from the definition. */
    private static double[] plainAverage(List<AttentionLayerInfo> layers, Map<AttentionLayerId, Tensor> probabilities,
                                         AttentionCapture capture, int latentSide, AttentionKind kind, int batch,
                                         int keys) {
        int pixels = capture.resolution() * capture.resolution();
        double[] out = new double[batch * pixels * keys];
        for (int b = 0; b < batch; b++) {
            for (int p = 0; p < pixels; p++) {
                for (int k = 0; k < keys; k++) {
                    double sum = 0;
                    int count = 0;
                    for (AttentionLayerInfo info : layers) {
                        if (info.id().kind() != kind || !capture.aggregates(info, latentSide)) {
                            continue;
                        }
                        int kept = capture.headAveraging() == HeadAveraging.ALL_HEADS ? info.heads()
                                : (info.heads() + 1) / 2;
                        for (int h = 0; h < kept; h++) {
                            sum += probabilities.get(info.id()).get(((b * info.heads() + h) * pixels + p) * keys + k);
                            count++;
                        }
                    }
                    out[(b * pixels + p) * keys + k] = sum / count;
                }
            }
        }
        return out;
    }
}
