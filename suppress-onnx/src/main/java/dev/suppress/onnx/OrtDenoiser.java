package dev.suppress.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import dev.suppress.core.ModelFormatException;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.onnx.graph.AttentionGraphEditor;
import dev.suppress.onnx.graph.AttentionSoftmaxNode;
import dev.suppress.onnx.graph.OnnxModelFile;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * The UNet ({@code UNet2DConditionModel}) from {@code unet/model.onnx}, with attention capture by graph editing.
 *
 * <p>Sessions: the unedited model answers plain denoising. A capture needs the Softmax outputs of some layers, so
 * the graph is edited before a session is created ({@link AttentionGraphEditor}): for {@link #denoise} the whole
 * UNet with those outputs added, for {@link #attention} a model cut to what they depend on (ITO never uses the
 * noise prediction). Edited sessions are created on first use and cached per layer set (at most
 * {@value #CACHED_SESSIONS} of each kind; the pipeline uses one capture). Each session holds its own copy of the
 * weights in ONNX Runtime, so an SD 1.5 UNet with ITO costs about 2.5 x its weights in memory (plain, captured,
 * and the cut model, which lacks the last up block).
 *
 * <p>Input and output names, and the timestep's element type and rank, are read from the model: the diffusers
 * script exports {@code timestep} as float32 {@code [batch]}, optimum as int64.
 *
 * <p>Thread-safe: calls are serialized on this object.
 */
final class OrtDenoiser implements DenoiserWithAttention {

    static final String COMPONENT = "unet";
    static final int CACHED_SESSIONS = 2;
    private static final int DEFAULT_SAMPLE_SIZE = 64;

    private final Path source;
    private final Device device;
    private final boolean allowCpuFallback;
    private final AttentionGraphEditor graph;
    private final AttentionAggregation aggregation;
    private final OrtModelSession plain;
    private final String sampleInput;
    private final String timestepInput;
    private final TensorInfo timestepInfo;
    private final String contextInput;
    private final String noiseOutput;
    private final UNetDescription description;
    private final SessionCache capturedSessions = new SessionCache("with attention outputs");
    private final SessionCache attentionOnlySessions = new SessionCache("attention only");
    private final OrtInputs latentFeed = new OrtInputs();
    private final OrtInputs contextFeed = new OrtInputs();
    private boolean closed;

    /**
     * Opens the UNet of {@code folder}.
     *
     * @throws ModelFormatException when the model is not a UNet with sample, timestep and context inputs, or its
     *                              attention Softmax nodes cannot be found
     */
    static OrtDenoiser open(OrtModelFolder folder, Device device, boolean allowCpuFallback,
                            AttentionAggregation aggregation) {
        Path source = folder.model(COMPONENT);
        ModelProto model = OnnxModelFile.read(source);
        AttentionGraphEditor graph = AttentionGraphEditor.scan(model, source);
        OrtModelSession plain = OrtModelSession.open(COMPONENT, source, device, allowCpuFallback);
        try {
            return new OrtDenoiser(source, allowCpuFallback, graph, aggregation, plain,
                    folder.unetConfig(), folder.predictionType());
        } catch (RuntimeException e) {
            plain.close();
            throw e;
        }
    }

    private OrtDenoiser(Path source, boolean allowCpuFallback, AttentionGraphEditor graph,
                        AttentionAggregation aggregation, OrtModelSession plain, Optional<JsonNode> config,
                        UNetDescription.PredictionType predictionType) {
        this.source = source;
        // Edited sessions go where the plain one went: the CPU after a fallback, without retrying CUDA.
        this.device = plain.device();
        this.allowCpuFallback = allowCpuFallback;
        this.graph = graph;
        this.aggregation = aggregation;
        this.plain = plain;
        Map<String, TensorInfo> inputs = plain.inputs();
        String sample = null;
        String timestep = null;
        String context = null;
        for (Map.Entry<String, TensorInfo> input : inputs.entrySet()) {
            int rank = input.getValue().getShape().length;
            if (rank == 4 && sample == null) {
                sample = input.getKey();
            } else if (rank == 3 && context == null) {
                context = input.getKey();
            } else if (rank <= 1 && timestep == null) {
                timestep = input.getKey();
            } else {
                throw new ModelFormatException(source, "Unexpected UNet input '" + input.getKey() + "' "
                        + input.getValue() + "; supported are sample [batch, 4, h, w], timestep [] or [batch] and "
                        + "encoder_hidden_states [batch, 77, M] (SDXL's text_embeds/time_ids are not)");
            }
        }
        if (sample == null || timestep == null || context == null) {
            throw new ModelFormatException(source, "Expected UNet inputs sample [batch, 4, h, w], timestep and "
                    + "encoder_hidden_states [batch, 77, M], found " + inputs);
        }
        for (String name : List.of(sample, context)) {
            if (inputs.get(name).type != OnnxJavaType.FLOAT) {
                throw new ModelFormatException(source, "UNet input '" + name + "' is " + inputs.get(name)
                        + "; only float32 exports are supported");
            }
        }
        TensorInfo timestepType = inputs.get(timestep);
        if (!List.of(OnnxJavaType.FLOAT, OnnxJavaType.DOUBLE, OnnxJavaType.INT64, OnnxJavaType.INT32)
                .contains(timestepType.type)) {
            throw new ModelFormatException(source, "UNet timestep input '" + timestep + "' is " + timestepType
                    + "; expected float32, float64, int32 or int64");
        }
        this.sampleInput = sample;
        this.timestepInput = timestep;
        this.timestepInfo = timestepType;
        this.contextInput = context;
        this.noiseOutput = plain.outputs().keySet().iterator().next();
        this.description = describe(config, predictionType, inputs);
    }

    private UNetDescription describe(Optional<JsonNode> config, UNetDescription.PredictionType predictionType,
                                     Map<String, TensorInfo> inputs) {
        long[] sampleShape = inputs.get(sampleInput).getShape();
        long[] contextShape = inputs.get(contextInput).getShape();
        int inChannels = config.map(c -> c.path("in_channels").asInt(-1)).filter(v -> v > 0)
                .orElseGet(() -> sampleShape[1] > 0 ? Math.toIntExact(sampleShape[1])
                        : weightDim(sampleInput, "Conv", 1));
        int crossAttentionDim = config.map(c -> c.path("cross_attention_dim").asInt(-1)).filter(v -> v > 0)
                .orElseGet(() -> contextShape[2] > 0 ? Math.toIntExact(contextShape[2])
                        : weightDim(contextInput, "MatMul", 0));
        int sampleSize = config.map(c -> c.path("sample_size").asInt(-1)).filter(v -> v > 0)
                .orElseGet(() -> sampleShape[2] > 0 ? Math.toIntExact(sampleShape[2]) : DEFAULT_SAMPLE_SIZE);
        return new UNetDescription(inChannels, sampleSize, crossAttentionDim, predictionType, graph.layers());
    }

    /** Dimension {@code axis} of the weight of the first {@code op} node reading {@code input}. */
    private int weightDim(String input, String op, int axis) {
        GraphProto proto = graph.model().getGraph();
        for (NodeProto node : proto.getNodeList()) {
            if (node.getOpType().equals(op) && node.getInputCount() > 1 && node.getInput(0).equals(input)) {
                for (TensorProto weight : proto.getInitializerList()) {
                    if (weight.getName().equals(node.getInput(1)) && weight.getDimsCount() > axis) {
                        return Math.toIntExact(weight.getDims(axis));
                    }
                }
            }
        }
        throw new ModelFormatException(source, "Cannot tell the width of UNet input '" + input + "': its shape is "
                + "dynamic, there is no unet/config.json, and no " + op + " reads it with a weight initializer");
    }

    @Override
    public UNetDescription description() {
        return description;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException for inconsistent shapes, a timestep outside 0..999, or a capture that
     *                                  selects no layer of this UNet
     */
    @Override
    public synchronized DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts,
                                               AttentionCapture capture) {
        if (capture == null) {
            return new DenoiserOutput(run(latents, timestep, contexts, Set.of(), false).noisePrediction(), null);
        }
        UNetRun run = run(latents, timestep, contexts, layersFor(capture, latents), false);
        return new DenoiserOutput(run.noisePrediction(), aggregation.aggregate(run.attention(), capture));
    }

    /** {@inheritDoc} Runs the model cut after the last layer the capture needs. */
    @Override
    public synchronized AttentionMaps attention(Tensor latents, int timestep, Tensor contexts,
                                                AttentionCapture capture) {
        if (capture == null) {
            throw new IllegalArgumentException("An attention-only pass needs a capture");
        }
        UNetRun run = run(latents, timestep, contexts, layersFor(capture, latents), true);
        return aggregation.aggregate(run.attention(), capture);
    }

    /**
     * The layers a capture needs for latents of this size: those it aggregates and those it wants raw.
     *
     * @throws IllegalArgumentException when the latents are not square, a raw layer is not in this UNet, or
     *                                  nothing is selected
     */
    Set<AttentionLayerId> layersFor(AttentionCapture capture, Tensor latents) {
        if (latents.rank() != 4 || latents.dim(2) != latents.dim(3)) {
            throw new IllegalArgumentException("Attention capture needs square latents [batch, 4, s, s], got "
                    + latents);
        }
        int side = latents.dim(2);
        Set<AttentionLayerId> layers = new LinkedHashSet<>();
        Set<Integer> resolutions = new TreeSet<>();
        for (AttentionLayerInfo layer : description.attentionLayers()) {
            resolutions.add(layer.resolution(side));
            if (capture.aggregates(layer, side)) {
                layers.add(layer.id());
            }
        }
        for (AttentionLayerId id : capture.rawLayers()) {
            graph.node(id);
            layers.add(id);
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("The capture selects no attention layer: resolution "
                    + capture.resolution() + " for latents of side " + side + ", but this UNet's layers work at "
                    + resolutions);
        }
        return layers;
    }

    /** What one evaluation produced: the noise prediction (absent for an attention-only pass) and the maps. */
    record UNetRun(Tensor noisePrediction, RawAttention attention) {
    }

    /**
     * One evaluation returning the raw Softmax outputs of {@code layers}.
     *
     * @param latents       {@code [batch, C, h, w]}; not modified
     * @param contexts      {@code [batch, 77, M]}; not modified
     * @param layers        the layers whose probabilities to return (may be empty for a plain pass)
     * @param attentionOnly run the model cut to those layers; the noise prediction is then {@code null}
     */
    synchronized UNetRun run(Tensor latents, int timestep, Tensor contexts, Collection<AttentionLayerId> layers,
                             boolean attentionOnly) {
        if (closed) {
            throw new IllegalStateException("The UNet of " + source + " is closed");
        }
        checkInputs(latents, timestep, contexts);
        if (attentionOnly && layers.isEmpty()) {
            throw new IllegalArgumentException("An attention-only pass needs at least one layer");
        }
        Set<AttentionLayerId> layerSet = Set.copyOf(layers);
        OrtModelSession session = layers.isEmpty() ? plain
                : attentionOnly ? attentionOnlySessions.get(layerSet, () -> OrtModelSession.open(COMPONENT
                + " (attention only)", graph.attentionOnly(layerSet), source, device, allowCpuFallback))
                : capturedSessions.get(layerSet, () -> OrtModelSession.open(COMPONENT + " (with attention outputs)",
                graph.withAttentionOutputs(layerSet), source, device, allowCpuFallback));

        int batch = latents.dim(0);
        Set<String> outputs = new LinkedHashSet<>();
        if (!attentionOnly) {
            outputs.add(noiseOutput);
        }
        List<AttentionSoftmaxNode> nodes = new ArrayList<>();
        for (AttentionLayerInfo layer : description.attentionLayers()) {
            if (layerSet.contains(layer.id())) {
                AttentionSoftmaxNode node = graph.node(layer.id());
                nodes.add(node);
                outputs.add(node.outputName());
            }
        }
        String step = "timestep " + timestep + ", batch " + batch + ", latents " + latents;
        Map<String, OnnxTensor> feeds = feeds(session, latents, timestep, contexts);
        Map<String, Tensor> results;
        try {
            results = session.run(feeds, outputs, step);
        } finally {
            OrtInputs.closeAll(feeds.values());
        }
        Map<AttentionLayerId, Tensor> probabilities = new LinkedHashMap<>();
        List<AttentionLayerInfo> infos = new ArrayList<>();
        for (AttentionSoftmaxNode node : nodes) {
            infos.add(node.layer());
            probabilities.put(node.layer().id(), batchTimesHeads(node, results.get(node.outputName()), latents));
        }
        Tensor noise = attentionOnly ? null : results.get(noiseOutput);
        return new UNetRun(noise, new RawAttention(batch, latents.dim(2), latents.dim(3), infos, probabilities));
    }

    private Map<String, OnnxTensor> feeds(OrtModelSession session, Tensor latents, int timestep, Tensor contexts) {
        Map<String, OnnxTensor> feeds = new LinkedHashMap<>();
        Set<String> wanted = session.inputs().keySet();
        boolean complete = false;
        try {
            if (wanted.contains(sampleInput)) {
                feeds.put(sampleInput, latentFeed.floats(latents, OrtInputs.shapeOf(latents)));
            }
            if (wanted.contains(timestepInput)) {
                feeds.put(timestepInput, OrtInputs.timestep(timestep, latents.dim(0), timestepInfo, timestepInput));
            }
            if (wanted.contains(contextInput)) {
                feeds.put(contextInput, contextFeed.floats(contexts, OrtInputs.shapeOf(contexts)));
            }
            complete = true;
            return feeds;
        } catch (OrtException e) {
            throw new OrtExecutionException(COMPONENT + ": cannot create the input tensors", e);
        } finally {
            if (!complete) {
                OrtInputs.closeAll(feeds.values());
            }
        }
    }

    /**
     * The Softmax output as {@code [batch*heads, pixels, keys]}, checked against the layer's heads and resolution.
     * {@code AttnProcessor} exports give that shape; exported {@code scaled_dot_product_attention} gives
     * {@code [batch, heads, pixels, keys]}, the same values in the same order.
     */
    private Tensor batchTimesHeads(AttentionSoftmaxNode node, Tensor probabilities, Tensor latents) {
        AttentionLayerInfo layer = node.layer();
        int batch = latents.dim(0);
        int factor = layer.downsampleFactor();
        int pixels = (latents.dim(2) / factor) * (latents.dim(3) / factor);
        int[] shape = probabilities.shape();
        int rows = shape.length == 4 ? shape[0] * shape[1] : shape.length == 3 ? shape[0] : -1;
        boolean headsMatch = shape.length == 4 ? shape[0] == batch && shape[1] == layer.heads()
                : rows == batch * layer.heads();
        if (rows < 0 || !headsMatch || shape[shape.length - 2] != pixels) {
            throw new ModelFormatException(source, "Softmax output of " + layer.modulePath() + " ("
                    + node.outputName() + ") has shape " + probabilities + "; expected [batch*heads, pixels, keys] = ["
                    + batch + "*" + layer.heads() + ", " + pixels + ", keys] for latents " + latents
                    + " (downsample factor " + factor + ")");
        }
        return shape.length == 3 ? probabilities : probabilities.reshape(rows, shape[2], shape[3]);
    }

    private void checkInputs(Tensor latents, int timestep, Tensor contexts) {
        if (latents.rank() != 4 || latents.dim(1) != description.inChannels()) {
            throw new IllegalArgumentException("Expected latents [batch, " + description.inChannels()
                    + ", h, w], got " + latents);
        }
        if (contexts.rank() != 3 || contexts.dim(0) != latents.dim(0)
                || contexts.dim(2) != description.crossAttentionDim()) {
            throw new IllegalArgumentException("Expected contexts [" + latents.dim(0) + ", tokens, "
                    + description.crossAttentionDim() + "] for latents " + latents + ", got " + contexts);
        }
        if (timestep < 0 || timestep > 999) {
            throw new IllegalArgumentException("Timestep " + timestep + " outside 0..999");
        }
    }

    /** Where the UNet runs (the CPU after a fallback). */
    Device device() {
        return plain.device();
    }

    /** The graph editor over this UNet's model. */
    AttentionGraphEditor graph() {
        return graph;
    }

    /** Closes every session, even when one fails to close. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure = null;
        for (AutoCloseable part : List.<AutoCloseable>of(capturedSessions, attentionOnlySessions, plain)) {
            try {
                part.close();
            } catch (Exception e) {
                RuntimeException wrapped = e instanceof RuntimeException r ? r
                        : new OrtExecutionException(COMPONENT + ": cannot close", e);
                if (failure == null) {
                    failure = wrapped;
                } else {
                    failure.addSuppressed(wrapped);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    /** Edited sessions by layer set, least recently used evicted (and closed) beyond {@link #CACHED_SESSIONS}. */
    private static final class SessionCache implements AutoCloseable {

        private final String kind;
        private final LinkedHashMap<Set<AttentionLayerId>, OrtModelSession> sessions =
                new LinkedHashMap<>(4, 0.75f, true);

        SessionCache(String kind) {
            this.kind = kind;
        }

        OrtModelSession get(Set<AttentionLayerId> layers, Supplier<OrtModelSession> create) {
            OrtModelSession session = sessions.get(layers);
            if (session == null) {
                session = create.get();
                sessions.put(layers, session);
                if (sessions.size() > CACHED_SESSIONS) {
                    Iterator<OrtModelSession> eldest = sessions.values().iterator();
                    OrtModelSession evicted = eldest.next();
                    eldest.remove();
                    evicted.close();
                }
            }
            return session;
        }

        @Override
        public void close() {
            RuntimeException failure = null;
            for (OrtModelSession session : sessions.values()) {
                try {
                    session.close();
                } catch (RuntimeException e) {
                    if (failure == null) {
                        failure = e;
                    } else {
                        failure.addSuppressed(e);
                    }
                }
            }
            sessions.clear();
            if (failure != null) {
                throw failure;
            }
        }

        @Override
        public String toString() {
            return sessions.size() + " session(s) " + kind;
        }
    }
}
