package dev.suppress.core.attention;

import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * Averages raw attention probabilities into {@link AttentionMaps} for a backend that gets the softmax outputs of
 * its attention layers one by one (ONNX Runtime, tests), and maps a gradient with respect to the averaged maps back
 * onto each layer for a backend that back-propagates through the layers itself.
 *
 * <p>ALGORITHM.md §4, mirroring the reference's {@code aggregate_attention}: for each batch element, the mean over
 * every (layer, head) pair of the layers that {@link AttentionCapture#aggregates} selects, keeping the heads that
 * {@link AttentionCapture#headAveraging()} keeps. Layers with more heads weigh more, as in the reference, which
 * concatenates all kept heads before taking the mean. The reference also divides by its running count of UNet passes
 * ({@code get_average_attention}); that factor is not applied here (the loss does not depend on it, ALGORITHM.md §4).
 *
 * <p>Raw probabilities are {@code [batch*heads, pixels, keys]} with batch-major rows ({@code b*heads + h}), query
 * pixels row-major over the layer's {@code h x w} map, keys the 77 tokens (cross) or the {@code h*w} pixels
 * (self): the layout of diffusers' {@code Attention.get_attention_scores}. Sums are accumulated in float64.
 *
 * <p>Immutable and thread-safe.
 */
public final class AttentionAggregator {

    private final AttentionCapture capture;
    private final int latentHeight;
    private final int latentWidth;
    private final List<AttentionLayerInfo> crossLayers;
    private final List<AttentionLayerInfo> selfLayers;
    private final List<AttentionLayerInfo> rawLayers;
    private final List<AttentionLayerInfo> requiredLayers;
    private final int crossHeadsPerElement;
    private final int selfHeadsPerElement;

    /**
     * @param layers     every attention layer of the UNet (as {@code UNetDescription.attentionLayers()}), ids
     *                   distinct; not modified
     * @param latentSide the side of the square latent the UNet runs on (64 for SD 1.x at 512 px)
     * @param capture    what to average
     * @throws IllegalArgumentException when the capture names places with no layer at its resolution, asks for
     *                                  a raw layer the UNet lacks, or selects no layer at all
     */
    public AttentionAggregator(List<AttentionLayerInfo> layers, int latentSide, AttentionCapture capture) {
        this(layers, latentSide, latentSide, capture);
    }

    /**
     * @param layers       every attention layer of the UNet, ids distinct; not modified
     * @param latentHeight the height of the latent the UNet runs on
     * @param latentWidth  its width
     * @param capture      what to average: its maps {@code height x width} select the layers at that level
     * @throws IllegalArgumentException when the capture names places with no layer at its map size, asks for
     *                                  a raw layer the UNet lacks, or selects no layer at all
     */
    public AttentionAggregator(List<AttentionLayerInfo> layers, int latentHeight, int latentWidth,
                               AttentionCapture capture) {
        Objects.requireNonNull(layers, "layers");
        this.capture = Objects.requireNonNull(capture, "capture");
        if (latentHeight < 1 || latentWidth < 1) {
            throw new IllegalArgumentException("The latent's height and width must be positive, got " + latentHeight
                    + "x" + latentWidth);
        }
        this.latentHeight = latentHeight;
        this.latentWidth = latentWidth;
        Set<AttentionLayerId> seen = new HashSet<>();
        List<AttentionLayerInfo> cross = new ArrayList<>();
        List<AttentionLayerInfo> self = new ArrayList<>();
        List<AttentionLayerInfo> raw = new ArrayList<>();
        List<AttentionLayerInfo> required = new ArrayList<>();
        for (AttentionLayerInfo layer : layers) {
            if (!seen.add(layer.id())) {
                throw new IllegalArgumentException("Attention layer " + layer.id() + " is listed twice");
            }
            boolean aggregated = capture.aggregates(layer, latentHeight, latentWidth);
            if (aggregated) {
                (layer.id().kind() == AttentionKind.CROSS ? cross : self).add(layer);
            }
            boolean wantedRaw = capture.rawLayers().contains(layer.id());
            if (wantedRaw) {
                raw.add(layer);
            }
            if (aggregated || wantedRaw) {
                required.add(layer);
            }
        }
        for (AttentionLayerId id : capture.rawLayers()) {
            if (!seen.contains(id)) {
                throw new IllegalArgumentException("The capture asks for the raw probabilities of " + id
                        + " but the UNet has no such attention layer");
            }
        }
        checkSomethingSelected(layers, AttentionKind.CROSS, capture.crossPlaces(), cross);
        checkSomethingSelected(layers, AttentionKind.SELF, capture.selfPlaces(), self);
        if (required.isEmpty()) {
            throw new IllegalArgumentException("The capture selects no attention layer: " + capture);
        }
        this.crossLayers = List.copyOf(cross);
        this.selfLayers = List.copyOf(self);
        this.rawLayers = List.copyOf(raw);
        this.requiredLayers = List.copyOf(required);
        this.crossHeadsPerElement = keptHeadCount(cross);
        this.selfHeadsPerElement = keptHeadCount(self);
    }

    private void checkSomethingSelected(List<AttentionLayerInfo> layers, AttentionKind kind, Set<UNetPlace> places,
                                        List<AttentionLayerInfo> selected) {
        if (places.isEmpty() || !selected.isEmpty()) {
            return;
        }
        boolean square = latentHeight == latentWidth;
        Set<Integer> factors = new TreeSet<>();
        for (AttentionLayerInfo layer : layers) {
            if (layer.id().kind() == kind && places.contains(layer.id().place())) {
                factors.add(layer.downsampleFactor());
            }
        }
        List<String> sizes = new ArrayList<>();
        for (int factor : factors) {
            sizes.add(square ? String.valueOf(latentHeight / factor)
                    : latentHeight / factor + "x" + latentWidth / factor);
        }
        throw new IllegalArgumentException("No " + kind.name().toLowerCase(java.util.Locale.ROOT)
                + "-attention layer at " + capture.sizeText() + " in places " + new TreeSet<>(places) + " for a "
                + (square ? "latent of side " + latentHeight : latentHeight + "x" + latentWidth + " (height x width) "
                + "latent") + "; those places have "
                + (sizes.isEmpty() ? "no such layer" : "layers at resolutions " + sizes));
    }

    private int keptHeadCount(List<AttentionLayerInfo> layers) {
        int count = 0;
        for (AttentionLayerInfo layer : layers) {
            count += capture.headAveraging().keptHeads(layer.heads());
        }
        return count;
    }

    /**
     * The layers whose probabilities {@link #aggregate} needs, in the order given to the constructor: those that
     * enter the averages and those whose raw probabilities the capture asks for.
     */
    public List<AttentionLayerInfo> requiredLayers() {
        return requiredLayers;
    }

    /**
     * How many (layer, head) pairs each batch element's cross map averages over (0 when the capture names no
     * cross places).
     */
    public int crossHeadCount() {
        return crossHeadsPerElement;
    }

    /** How many (layer, head) pairs each batch element's self map averages over. */
    public int selfHeadCount() {
        return selfHeadsPerElement;
    }

    /**
     * Averages the layers' probabilities.
     *
     * @param probabilities raw softmax probabilities {@code [batch*heads, pixels, keys]} of at least every layer
     *                      in {@link #requiredLayers()} (others are ignored); not modified
     * @return cross maps {@code [batch, h, w, keys]} ({@code keys = 0} when no cross places are captured),
     * self maps {@code [batch, h, w, h*w]} (last dimension 0 when no self places are captured), and the
     * raw tensors of the capture's {@code rawLayers}
     * @throws IllegalArgumentException when a layer is missing or has the wrong shape, or the batch sizes differ
     */
    public AttentionMaps aggregate(Map<AttentionLayerId, Tensor> probabilities) {
        Objects.requireNonNull(probabilities, "probabilities");
        int batch = -1;
        AttentionLayerInfo batchSource = null;
        for (AttentionLayerInfo layer : requiredLayers) {
            Tensor tensor = probabilities.get(layer.id());
            if (tensor == null) {
                throw new IllegalArgumentException("Missing attention probabilities of layer " + layer.id() + " ("
                        + layer.modulePath() + "); given " + new TreeSet<>(names(probabilities.keySet())));
            }
            int layerBatch = checkShape(layer, tensor);
            if (batch < 0) {
                batch = layerBatch;
                batchSource = layer;
            } else if (layerBatch != batch) {
                throw new IllegalArgumentException("Attention probabilities of " + layer.id() + " hold a batch of "
                        + layerBatch + " but those of " + batchSource.id() + " a batch of " + batch + " ("
                        + layer.heads() + " and " + batchSource.heads() + " heads)");
            }
        }
        int height = capture.height();
        int width = capture.width();
        int crossKeys = crossLayers.isEmpty() ? 0 : probabilities.get(crossLayers.get(0).id()).dim(2);
        for (AttentionLayerInfo layer : crossLayers) {
            int keys = probabilities.get(layer.id()).dim(2);
            if (keys != crossKeys) {
                throw new IllegalArgumentException("Cross-attention probabilities of " + layer.id() + " have "
                        + keys + " keys but those of " + crossLayers.get(0).id() + " have " + crossKeys);
            }
        }
        int selfKeys = selfLayers.isEmpty() ? 0 : height * width;
        Tensor cross = average(crossLayers, probabilities, batch, crossKeys, crossHeadsPerElement);
        Tensor self = average(selfLayers, probabilities, batch, selfKeys, selfHeadsPerElement);
        Map<AttentionLayerId, Tensor> raw = new LinkedHashMap<>();
        for (AttentionLayerInfo layer : rawLayers) {
            raw.put(layer.id(), probabilities.get(layer.id()));
        }
        return new AttentionMaps(cross.reshape(batch, height, width, crossKeys),
                self.reshape(batch, height, width, selfKeys), raw);
    }

    private static List<String> names(Set<AttentionLayerId> ids) {
        List<String> names = new ArrayList<>();
        for (AttentionLayerId id : ids) {
            names.add(id.referenceName());
        }
        return names;
    }

    /** Checks {@code [batch*heads, h*w, keys]} and returns the batch size. */
    private int checkShape(AttentionLayerInfo layer, Tensor tensor) {
        int mapHeight = layer.resolution(latentHeight);
        int mapWidth = layer.resolution(latentWidth);
        int pixels = mapHeight * mapWidth;
        if (tensor.rank() != 3 || tensor.dim(0) % layer.heads() != 0 || tensor.dim(0) == 0
                || tensor.dim(1) != pixels
                || (layer.id().kind() == AttentionKind.SELF && tensor.dim(2) != pixels)) {
            String keys = layer.id().kind() == AttentionKind.SELF ? String.valueOf(pixels) : "keys";
            throw new IllegalArgumentException("Attention probabilities of " + layer.id() + " (" + layer.modulePath()
                    + ") have shape " + Arrays.toString(tensor.shape()) + "; expected [batch*" + layer.heads()
                    + ", " + pixels + ", " + keys + "] for its " + mapHeight + "x" + mapWidth + " map ("
                    + (latentHeight == latentWidth ? "latent side " + latentHeight
                    : "latent " + latentHeight + "x" + latentWidth) + ")");
        }
        return tensor.dim(0) / layer.heads();
    }

    private Tensor average(List<AttentionLayerInfo> layers, Map<AttentionLayerId, Tensor> probabilities, int batch,
                           int keys, int headsPerElement) {
        int mapSize = capture.pixels() * keys;
        double[] sum = new double[batch * mapSize];
        for (AttentionLayerInfo layer : layers) {
            Tensor tensor = probabilities.get(layer.id());
            int kept = capture.headAveraging().keptHeads(layer.heads());
            for (int b = 0; b < batch; b++) {
                int outOffset = b * mapSize;
                for (int h = 0; h < kept; h++) {
                    int inOffset = (b * layer.heads() + h) * mapSize;
                    for (int e = 0; e < mapSize; e++) {
                        sum[outOffset + e] += tensor.get(inOffset + e);
                    }
                }
            }
        }
        float[] mean = new float[sum.length];
        for (int i = 0; i < sum.length; i++) {
            mean[i] = (float) (sum[i] / headsPerElement);
        }
        return Tensor.wrapOwned(mean, mean.length);
    }

    /**
     * The adjoint of {@link #aggregate}: given {@code dL/d cross} and {@code dL/d self} with respect to the averaged
     * maps, the gradient with respect to each averaged layer's raw probabilities. A kept head's rows receive the
     * map gradient divided by the number of averaged (layer, head) pairs; dropped heads receive zeros.
     *
     * @param crossGradient {@code [batch, h, w, keys]}, or {@code null} for no gradient through the cross
     *                      maps (the cross layers are then left out of the result); not modified
     * @param selfGradient  {@code [batch, h, w, h*w]}, or {@code null} likewise; not modified
     * @return for each averaged layer (in forward order), {@code dL/d probabilities}
     * {@code [batch*heads, h*w, keys]}; layers only captured raw are not included
     * @throws IllegalArgumentException when a gradient does not have the shape of its map
     */
    public Map<AttentionLayerId, Tensor> backpropagate(Tensor crossGradient, Tensor selfGradient) {
        Map<AttentionLayerId, Tensor> out = new HashMap<>();
        if (crossGradient != null) {
            checkGradient("crossGradient", crossGradient, -1);
            scatter(crossLayers, crossGradient, crossHeadsPerElement, out);
        }
        if (selfGradient != null) {
            checkGradient("selfGradient", selfGradient, capture.pixels());
            scatter(selfLayers, selfGradient, selfHeadsPerElement, out);
        }
        Map<AttentionLayerId, Tensor> ordered = new LinkedHashMap<>();
        for (AttentionLayerInfo layer : requiredLayers) {
            Tensor gradient = out.get(layer.id());
            if (gradient != null) {
                ordered.put(layer.id(), gradient);
            }
        }
        return ordered;
    }

    private void checkGradient(String name, Tensor gradient, int keys) {
        int height = capture.height();
        int width = capture.width();
        if (gradient.rank() != 4 || gradient.dim(0) < 1 || gradient.dim(1) != height || gradient.dim(2) != width
                || (keys >= 0 && gradient.dim(3) != keys)) {
            throw new IllegalArgumentException(name + " has shape " + Arrays.toString(gradient.shape())
                    + "; expected [batch, " + height + ", " + width + ", " + (keys >= 0 ? String.valueOf(keys) : "keys")
                    + "]");
        }
    }

    private void scatter(List<AttentionLayerInfo> layers, Tensor gradient, int headsPerElement,
                         Map<AttentionLayerId, Tensor> out) {
        int batch = gradient.dim(0);
        int keys = gradient.dim(3);
        int mapSize = capture.pixels() * keys;
        float[] scaled = new float[batch * mapSize];
        for (int i = 0; i < scaled.length; i++) {
            scaled[i] = (float) ((double) gradient.get(i) / headsPerElement);
        }
        for (AttentionLayerInfo layer : layers) {
            int kept = capture.headAveraging().keptHeads(layer.heads());
            float[] layerGradient = new float[batch * layer.heads() * mapSize];
            for (int b = 0; b < batch; b++) {
                for (int h = 0; h < kept; h++) {
                    System.arraycopy(scaled, b * mapSize, layerGradient, (b * layer.heads() + h) * mapSize, mapSize);
                }
            }
            out.put(layer.id(), Tensor.wrapOwned(layerGradient, batch * layer.heads(), capture.pixels(), keys));
        }
    }
}
