package dev.suppress.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.suppress.core.io.ModelFormatException;
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
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Collections;
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
 * <p>Sessions: the unedited model answers plain denoising (only image inversion asks for it). A capture needs the
 * Softmax outputs of some layers, so the graph is edited before a session is created ({@link AttentionGraphEditor}):
 * for {@link #denoise} the whole UNet with those outputs added, for {@link #attention} a model cut to what they
 * depend on (ITO never uses the noise prediction). Every session is created on first use, the edited ones cached per
 * layer set (at most {@value #CACHED_SESSIONS} of each kind; the pipeline uses one capture). Each session holds its
 * own copy of the weights in ONNX Runtime, so a generation with ITO holds about 1.5 x the UNet's weights (the
 * captured model and the cut one, which lacks the last up block) and an edit about 2.5 x (the plain model too).
 *
 * <p>Input and output names, and the timestep's element type and rank, are read from the model file: the diffusers
 * script exports {@code timestep} as float32 {@code [batch]}, optimum as int64. The first session settles the
 * device: after a CUDA fallback the later ones are created on the CPU directly.
 *
 * <p>Thread-safe: calls are serialized on this object.
 */
final class OrtDenoiser implements DenoiserWithAttention {

    static final String COMPONENT = "unet";
    static final int CACHED_SESSIONS = 2;
    private static final int DEFAULT_SAMPLE_SIZE = 64;

    private final Path source;
    private final boolean allowCpuFallback;
    private final AttentionGraphEditor graph;
    private final AttentionAggregation aggregation;
    private final String sampleInput;
    private final String timestepInput;
    private final DeclaredInput timestepInfo;
    private final String contextInput;
    private final String noiseOutput;
    private final UNetDescription description;
    private final SessionCache capturedSessions = new SessionCache("with attention outputs");
    private final SessionCache attentionOnlySessions = new SessionCache("attention only");
    private final OrtInputs latentFeed = new OrtInputs();
    private final OrtInputs contextFeed = new OrtInputs();
    /** Where sessions are created: the requested device until one falls back to the CPU. */
    private Device device;
    /** The unedited model, opened by the first plain pass. */
    private OrtModelSession plain;
    private boolean closed;

    /** A graph input as the model file declares it; {@code -1} for a symbolic dimension. */
    record DeclaredInput(String name, OnnxJavaType type, long[] shape) {
        @Override
        public String toString() {
            return name + " " + type + " " + Arrays.toString(shape);
        }
    }

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
        return new OrtDenoiser(source, device, allowCpuFallback, graph, aggregation, folder.unetConfig(),
                folder.predictionType());
    }

    private OrtDenoiser(Path source, Device device, boolean allowCpuFallback, AttentionGraphEditor graph,
                        AttentionAggregation aggregation, Optional<JsonNode> config,
                        UNetDescription.PredictionType predictionType) {
        this.source = source;
        this.device = device;
        this.allowCpuFallback = allowCpuFallback;
        this.graph = graph;
        this.aggregation = aggregation;
        Map<String, DeclaredInput> inputs = declaredInputs(graph.model().getGraph());
        String sample = null;
        String timestep = null;
        String context = null;
        for (Map.Entry<String, DeclaredInput> input : inputs.entrySet()) {
            int rank = input.getValue().shape().length;
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
            if (inputs.get(name).type() != OnnxJavaType.FLOAT) {
                throw new ModelFormatException(source, "UNet input '" + name + "' is " + inputs.get(name)
                        + "; only float32 exports are supported");
            }
        }
        DeclaredInput timestepType = inputs.get(timestep);
        if (!List.of(OnnxJavaType.FLOAT, OnnxJavaType.DOUBLE, OnnxJavaType.INT64, OnnxJavaType.INT32)
                .contains(timestepType.type())) {
            throw new ModelFormatException(source, "UNet timestep input '" + timestep + "' is " + timestepType
                    + "; expected float32, float64, int32 or int64");
        }
        this.sampleInput = sample;
        this.timestepInput = timestep;
        this.timestepInfo = timestepType;
        this.contextInput = context;
        if (graph.model().getGraph().getOutputCount() == 0) {
            throw new ModelFormatException(source, "The UNet graph declares no output");
        }
        this.noiseOutput = graph.model().getGraph().getOutput(0).getName();
        this.description = describe(config, predictionType, inputs);
    }

    /** The graph's inputs in declaration order, without initializers (before IR 4 weights were listed too). */
    private static Map<String, DeclaredInput> declaredInputs(GraphProto graph) {
        Set<String> initializers = new HashSet<>();
        for (TensorProto initializer : graph.getInitializerList()) {
            initializers.add(initializer.getName());
        }
        Map<String, DeclaredInput> inputs = new LinkedHashMap<>();
        for (ValueInfoProto input : graph.getInputList()) {
            if (initializers.contains(input.getName())) {
                continue;
            }
            TypeProto.Tensor tensor = input.getType().getTensorType();
            long[] shape = tensor.getShape().getDimList().stream()
                    .mapToLong(dimension -> dimension.hasDimValue() ? dimension.getDimValue() : -1).toArray();
            inputs.put(input.getName(), new DeclaredInput(input.getName(), javaType(tensor.getElemType()), shape));
        }
        return inputs;
    }

    private static OnnxJavaType javaType(int elementType) {
        return switch (elementType) {
            case TensorProto.DataType.FLOAT_VALUE -> OnnxJavaType.FLOAT;
            case TensorProto.DataType.DOUBLE_VALUE -> OnnxJavaType.DOUBLE;
            case TensorProto.DataType.INT32_VALUE -> OnnxJavaType.INT32;
            case TensorProto.DataType.INT64_VALUE -> OnnxJavaType.INT64;
            case TensorProto.DataType.FLOAT16_VALUE -> OnnxJavaType.FLOAT16;
            case TensorProto.DataType.BFLOAT16_VALUE -> OnnxJavaType.BFLOAT16;
            default -> OnnxJavaType.UNKNOWN;
        };
    }

    private UNetDescription describe(Optional<JsonNode> config, UNetDescription.PredictionType predictionType,
                                     Map<String, DeclaredInput> inputs) {
        long[] sampleShape = inputs.get(sampleInput).shape();
        long[] contextShape = inputs.get(contextInput).shape();
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
     * @throws IllegalArgumentException when the latents are not {@code [batch, C, h, w]}, a raw layer is not in this
     *                                  UNet, or nothing is selected
     */
    Set<AttentionLayerId> layersFor(AttentionCapture capture, Tensor latents) {
        if (latents.rank() != 4) {
            throw new IllegalArgumentException("Attention capture needs latents [batch, 4, h, w], got " + latents);
        }
        int height = latents.dim(2);
        int width = latents.dim(3);
        boolean square = height == width;
        Set<AttentionLayerId> layers = new LinkedHashSet<>();
        Set<Integer> factors = new TreeSet<>();
        for (AttentionLayerInfo layer : description.attentionLayers()) {
            factors.add(layer.downsampleFactor());
            if (capture.aggregates(layer, height, width)) {
                layers.add(layer.id());
            }
        }
        for (AttentionLayerId id : capture.rawLayers()) {
            graph.node(id);
            layers.add(id);
        }
        if (layers.isEmpty()) {
            List<String> sizes = new ArrayList<>();
            for (int factor : factors) {
                sizes.add(square ? String.valueOf(height / factor) : height / factor + "x" + width / factor);
            }
            Collections.reverse(sizes);
            throw new IllegalArgumentException("The capture selects no attention layer: resolution "
                    + (capture.height() == capture.width() ? String.valueOf(capture.height()) : capture.sizeText())
                    + " for latents of " + (square ? "side " + height : height + "x" + width + " (height x width)")
                    + ", but this UNet's layers work at " + sizes);
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
        OrtModelSession session = layers.isEmpty() ? plainSession()
                : attentionOnly ? attentionOnlySessions.get(layerSet, () -> settled(OrtModelSession.open(COMPONENT
                + " (attention only)", graph.attentionOnly(layerSet), source, device, allowCpuFallback)))
                : capturedSessions.get(layerSet, () -> settled(OrtModelSession.open(COMPONENT
                + " (with attention outputs)", graph.withAttentionOutputs(layerSet), source, device,
                allowCpuFallback)));

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

    private OrtModelSession plainSession() {
        if (plain == null) {
            plain = settled(OrtModelSession.open(COMPONENT, source, device, allowCpuFallback));
        }
        return plain;
    }

    /** Later sessions go where this one went: the CPU after a fallback, without retrying CUDA. */
    private OrtModelSession settled(OrtModelSession session) {
        device = session.device();
        return session;
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
                feeds.put(timestepInput, OrtInputs.timestep(timestep, latents.dim(0), timestepInfo.type(),
                        timestepInfo.shape(), timestepInput));
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

    /**
     * Where the UNet runs: the device its sessions were created on (the CPU after a fallback), or, before the first
     * session, the device they will be created on.
     */
    synchronized Device device() {
        return device;
    }

    /** How many ONNX Runtime sessions (each with its own copy of the weights) are open now. */
    synchronized int openSessions() {
        return (plain == null ? 0 : 1) + capturedSessions.size() + attentionOnlySessions.size();
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
        List<AutoCloseable> parts = new ArrayList<>(List.of(capturedSessions, attentionOnlySessions));
        if (plain != null) {
            parts.add(plain);
        }
        for (AutoCloseable part : parts) {
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

        int size() {
            return sessions.size();
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
