package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.suppress.core.attention.AttentionAggregator;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Tensors;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The attention capture of one UNet evaluation: sums the probabilities of the layers an {@link AttentionCapture}
 * aggregates in the graph (so the probe can differentiate through them), copies out the raw layers, and tells the
 * UNet when it may stop because no later layer is needed.
 *
 * <p>Mirrors the reference's {@code aggregate_attention}: the mean over all (layer, head) pairs of the selected
 * layers; with {@link HeadAveraging#FIRST_HALF_OF_HEADS} only the first {@link HeadAveraging#keptHeads} heads of each
 * batch element enter it (ALGORITHM.md §4, quirk of the reference; {@link HeadAveraging#ALL_HEADS} turns it off).
 *
 * <p>One instance per call; not thread-safe.
 */
final class AttentionRecorder {

    /** What the UNet does once the last layer the capture needs is recorded. */
    enum AfterLastNeeded {
        /** Runs to the end, as it would without a capture. */
        CONTINUE,
        /** Returns at once: nothing after that layer changes the maps. */
        STOP,
        /**
         * Runs to the end with autograd's recording off: nothing after that layer can reach the maps' gradient, so
         * its activations need not be saved for the backward pass (a full-extent probe).
         */
        CONTINUE_WITHOUT_GRADIENT
    }

    private final List<AttentionLayerInfo> layers;
    private final boolean[] aggregated;
    private final boolean[] raw;
    private final int lastNeeded;
    private final AfterLastNeeded afterLastNeeded;
    private final int batch;
    private final int mapHeight;
    private final int mapWidth;
    private final HeadAveraging headAveraging;
    private final boolean crossWanted;
    private final boolean selfWanted;
    private final NDManager scope;
    private final Map<AttentionLayerId, Tensor> rawMaps = new LinkedHashMap<>();
    private NDArray crossSum;
    private NDArray selfSum;
    private long crossCount;
    private long selfCount;
    private boolean allRecorded;

    private AttentionRecorder(List<AttentionLayerInfo> layers, boolean[] aggregated, boolean[] raw,
                              AfterLastNeeded afterLastNeeded, int batch, int mapHeight, int mapWidth,
                              HeadAveraging headAveraging,
                              boolean crossWanted, boolean selfWanted, NDManager scope) {
        this.layers = layers;
        this.aggregated = aggregated;
        this.raw = raw;
        int last = -1;
        for (int i = 0; i < layers.size(); i++) {
            if (aggregated[i] || raw[i]) {
                last = i;
            }
        }
        this.lastNeeded = last;
        this.afterLastNeeded = afterLastNeeded;
        this.batch = batch;
        this.mapHeight = mapHeight;
        this.mapWidth = mapWidth;
        this.headAveraging = headAveraging;
        this.crossWanted = crossWanted;
        this.selfWanted = selfWanted;
        this.scope = scope;
    }

    /** A recorder that records nothing and never stops the pass. */
    static AttentionRecorder none(List<AttentionLayerInfo> layers) {
        return new AttentionRecorder(layers, new boolean[layers.size()], new boolean[layers.size()],
                AfterLastNeeded.CONTINUE, 0, 0, 0, HeadAveraging.ALL_HEADS, false, false, null);
    }

    /**
     * @param latentHeight        the height of the latent being evaluated
     * @param latentWidth         its width
     * @param afterLastNeeded     what the UNet does after the last layer the capture needs
     * @param scope               the call's manager, where the running sums live (layers free their own arrays)
     * @throws IllegalArgumentException as {@link AttentionAggregator}'s constructor: the capture names layers the
     *                                  UNet does not have, asks for maps of a kind at a resolution where the selected
     *                                  places have no layer, or selects nothing
     */
    static AttentionRecorder of(AttentionCapture capture, List<AttentionLayerInfo> layers, int latentHeight,
                                int latentWidth, int batch, AfterLastNeeded afterLastNeeded,
                                NDManager scope) {
        // core's selection rules and errors: raw layers the UNet lacks, places without a layer at the resolution
        new AttentionAggregator(layers, latentHeight, latentWidth, capture);
        boolean[] aggregated = new boolean[layers.size()];
        boolean[] raw = new boolean[layers.size()];
        for (int i = 0; i < layers.size(); i++) {
            AttentionLayerInfo layer = layers.get(i);
            aggregated[i] = capture.aggregates(layer, latentHeight, latentWidth);
            raw[i] = capture.rawLayers().contains(layer.id());
        }
        boolean crossWanted = !capture.crossPlaces().isEmpty();
        boolean selfWanted = !capture.selfPlaces().isEmpty();
        return new AttentionRecorder(layers, aggregated, raw, afterLastNeeded, batch, capture.height(),
                capture.width(), capture.headAveraging(), crossWanted, selfWanted, scope);
    }

    /** True when the capture needs the probabilities of layer {@code index}. */
    boolean wants(int index) {
        return !done() && (aggregated[index] || raw[index]);
    }

    /** True once every layer the capture needs is recorded and the pass may stop. */
    boolean done() {
        return allRecorded && afterLastNeeded == AfterLastNeeded.STOP;
    }

    /**
     * True once every layer the capture needs is recorded and the rest of the pass may run with autograd's
     * recording off.
     */
    boolean gradientNoLongerNeeded() {
        return allRecorded && afterLastNeeded == AfterLastNeeded.CONTINUE_WITHOUT_GRADIENT;
    }

    /**
     * Takes the softmax probabilities of layer {@code index}.
     *
     * @param probabilities {@code [batch*heads, pixels, keys]}, batch-major; not modified
     */
    void record(int index, NDArray probabilities) {
        AttentionLayerInfo layer = layers.get(index);
        if (aggregated[index]) {
            long heads = layer.heads();
            long pixels = probabilities.getShape().get(1);
            long keys = probabilities.getShape().get(2);
            NDArray perHead = probabilities.reshape(batch, heads, pixels, keys);
            // core's rule, so both backends average the same heads (odd counts included)
            long used = headAveraging.keptHeads(layer.heads());
            NDArray selected = used == heads ? perHead : perHead.get(":, 0:{}", used);
            // averaged in float32 whatever the compute type: the maps feed core's float64 loss
            NDArray sum = ComputePrecision.toFloat32(selected).sum(new int[] {1});
            if (layer.id().kind() == AttentionKind.CROSS) {
                crossSum = crossSum == null ? sum : crossSum.add(sum);
                crossSum.attach(scope);
                crossCount += used;
            } else {
                selfSum = selfSum == null ? sum : selfSum.add(sum);
                selfSum.attach(scope);
                selfCount += used;
            }
        }
        if (raw[index]) {
            rawMaps.put(layer.id(), Tensors.toTensor(probabilities));
        }
        if (index == lastNeeded) {
            allRecorded = true;
        }
    }

    /** The averaged cross maps {@code [batch, h, w, keys]}, in the graph; {@code null} when none were asked. */
    NDArray crossMaps() {
        // the query pixels are the layer's h x w feature map flattened row-major, as diffusers' Transformer2DModel
        return crossWanted ? crossSum.div(Tensors.scalar(scope, crossCount))
                .reshape(batch, mapHeight, mapWidth, -1) : null;
    }

    /** The averaged self maps {@code [batch, h, w, h*w]}, in the graph; {@code null} when none were asked. */
    NDArray selfMaps() {
        return selfWanted ? selfSum.div(Tensors.scalar(scope, selfCount))
                .reshape(batch, mapHeight, mapWidth, -1) : null;
    }

    /**
     * True when the recorded maps can depend on the context: some recorded layer runs at or after the first
     * cross-attention layer of the pass.
     */
    boolean dependsOnContext() {
        int firstCross = -1;
        for (int i = 0; i < layers.size() && firstCross < 0; i++) {
            if (layers.get(i).id().kind() == AttentionKind.CROSS) {
                firstCross = i;
            }
        }
        for (int i = Math.max(firstCross, 0); firstCross >= 0 && i < layers.size(); i++) {
            if (aggregated[i]) {
                return true;
            }
        }
        return false;
    }

    /**
     * Copies the maps out. A kind whose place set is empty gets an empty tensor {@code [batch, h, w, 0]}.
     *
     * @param cross {@link #crossMaps()}, or a value computed from it
     * @param self  {@link #selfMaps()}, or a value computed from it
     */
    AttentionMaps toMaps(NDArray cross, NDArray self) {
        Tensor crossTensor = cross == null ? Tensor.zeros(batch, mapHeight, mapWidth, 0) : Tensors.toTensor(cross);
        Tensor selfTensor = self == null ? Tensor.zeros(batch, mapHeight, mapWidth, 0) : Tensors.toTensor(self);
        return new AttentionMaps(crossTensor, selfTensor, new LinkedHashMap<>(rawMaps));
    }
}
