package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the attention Softmax nodes of an exported {@code UNet2DConditionModel} and edits the graph so that ONNX
 * Runtime hands their outputs back: standard exports (the diffusers {@code convert_stable_diffusion_checkpoint_to_onnx}
 * script, optimum) only output the noise prediction.
 *
 * <p>Layers are recognised by the module scope that the TorchScript exporter writes into node names,
 * {@code /down_blocks.1/attentions.0/transformer_blocks.0/attn2/Softmax}: the place ({@code down_blocks.N},
 * {@code mid_block}, {@code up_blocks.N}), {@code attn1} = self-attention and {@code attn2} = cross-attention, and
 * the forward order (down blocks ascending, mid, up blocks ascending; within a block by attention and transformer
 * block index), which is the order in which the reference's {@code AttentionStore} numbers them.
 *
 * <p>Downsample factor: diffusers' UNet halves the resolution at the end of every down block but the last and
 * doubles it at the end of every up block but the last, so {@code down_blocks.i} works at {@code 2^i},
 * the mid block at {@code 2^(downBlocks-1)} and {@code up_blocks.i} at {@code 2^(upBlocks-1-i)}; the block counts
 * are read from the node names. The backend checks each captured map's pixel count against this at run time.
 *
 * <p>Heads: read from the constant {@code heads} entry of the layer's first 4-D {@code Reshape}, the query's
 * {@code [batch, sequence, heads, head_dim]} (see {@link ShapeConstants}); the backend checks it at run time
 * against the Softmax output's leading dimension ({@code batch*heads}).
 *
 * <p>Instances are immutable; every edit returns a new model and leaves the scanned one unchanged.
 */
public final class AttentionGraphEditor {

    private static final Pattern LAYER_NAME = Pattern.compile(
            "(down_blocks\\.(\\d+)|mid_block|up_blocks\\.(\\d+))/attentions\\.(\\d+)/transformer_blocks\\.(\\d+)"
                    + "/(attn1|attn2)/Softmax(?:_\\d+)?$");
    private static final Pattern DOWN_BLOCK = Pattern.compile("(?:^|/)down_blocks\\.(\\d+)/");
    private static final Pattern UP_BLOCK = Pattern.compile("(?:^|/)up_blocks\\.(\\d+)/");
    private static final String EXPECTED_NAMES = "Softmax nodes named '/{down_blocks.N|mid_block|up_blocks.N}"
            + "/attentions.N/transformer_blocks.N/{attn1|attn2}/Softmax' (the module scopes the TorchScript exporter "
            + "of diffusers and optimum writes)";
    /** Operators of ONNX Runtime's transformer optimizer that replace MatMul-Softmax-MatMul attention. */
    private static final List<String> FUSED_ATTENTION_OPS = List.of("Attention", "MultiHeadAttention",
            "PackedMultiHeadAttention", "PackedAttention", "GroupQueryAttention", "DecoderMaskedMultiHeadAttention");

    private final ModelProto model;
    private final Path source;
    private final List<AttentionSoftmaxNode> nodes;
    private final Map<AttentionLayerId, AttentionSoftmaxNode> byId;

    private AttentionGraphEditor(ModelProto model, Path source, List<AttentionSoftmaxNode> nodes) {
        this.model = model;
        this.source = source;
        this.nodes = List.copyOf(nodes);
        Map<AttentionLayerId, AttentionSoftmaxNode> index = new LinkedHashMap<>();
        for (AttentionSoftmaxNode node : nodes) {
            index.put(node.layer().id(), node);
        }
        this.byId = index;
    }

    /**
     * Scans a UNet graph for its attention Softmax nodes.
     *
     * @param model  the exported UNet; not modified
     * @param source the file it came from, for error messages
     * @throws ModelFormatException when no attention Softmax node is found (the message says what was looked for
     *                              and what Softmax nodes there are), or when a layer's heads cannot be read
     */
    public static AttentionGraphEditor scan(ModelProto model, Path source) {
        GraphProto graph = model.getGraph();
        Map<String, Integer> producers = GraphPruning.producers(graph);
        ShapeConstants constants = new ShapeConstants(graph, producers);
        int downBlocks = blockCount(graph, DOWN_BLOCK);
        int upBlocks = blockCount(graph, UP_BLOCK);

        List<Found> found = new ArrayList<>();
        List<String> otherSoftmax = new ArrayList<>();
        int softmaxCount = 0;
        for (NodeProto node : graph.getNodeList()) {
            if (!node.getOpType().equals("Softmax") || !node.getDomain().isEmpty()) {
                continue;
            }
            softmaxCount++;
            String name = node.getName().isEmpty() ? node.getOutput(0) : node.getName();
            Matcher matcher = LAYER_NAME.matcher(name.endsWith("_output_0")
                    ? name.substring(0, name.length() - "_output_0".length()) : name);
            if (!matcher.find()) {
                otherSoftmax.add(name);
                continue;
            }
            found.add(new Found(matcher, name, node.getOutput(0)));
        }
        if (found.isEmpty()) {
            throw new ModelFormatException(source, "No attention Softmax nodes in this graph: looked for "
                    + EXPECTED_NAMES + "; found " + softmaxCount + " Softmax node(s) among " + graph.getNodeCount()
                    + " nodes" + (otherSoftmax.isEmpty() ? "" : ", none matching: " + sample(otherSoftmax))
                    + fusedAttentionHint(graph));
        }
        found.sort(Comparator.naturalOrder());
        for (int i = 1; i < found.size(); i++) {
            if (found.get(i).compareTo(found.get(i - 1)) == 0) {
                throw new ModelFormatException(source, "Two Softmax nodes in attention module "
                        + found.get(i).modulePath + ": " + found.get(i - 1).nodeName + " and " + found.get(i).nodeName
                        + "; expected one per attention layer");
            }
        }

        Map<UNetPlace, Map<AttentionKind, Integer>> orders = new EnumMap<>(UNetPlace.class);
        List<AttentionSoftmaxNode> nodes = new ArrayList<>();
        for (Found layer : found) {
            int order = orders.computeIfAbsent(layer.place, p -> new EnumMap<>(AttentionKind.class))
                    .merge(layer.kind, 1, Integer::sum) - 1;
            int factor = switch (layer.place) {
                case DOWN -> 1 << layer.block;
                case MID -> 1 << Math.max(downBlocks - 1, 0);
                case UP -> 1 << Math.max(upBlocks - 1 - layer.block, 0);
            };
            int heads = heads(graph, constants, layer, source);
            AttentionLayerInfo info = new AttentionLayerInfo(new AttentionLayerId(layer.place, layer.kind, order),
                    layer.modulePath, factor, heads);
            nodes.add(new AttentionSoftmaxNode(info, layer.nodeName, layer.output));
        }
        return new AttentionGraphEditor(model, source, nodes);
    }

    /** The attention Softmax nodes in forward order. */
    public List<AttentionSoftmaxNode> softmaxNodes() {
        return nodes;
    }

    /** The attention layers in forward order. */
    public List<AttentionLayerInfo> layers() {
        return nodes.stream().map(AttentionSoftmaxNode::layer).toList();
    }

    /**
     * The Softmax node of a layer.
     *
     * @throws IllegalArgumentException naming the layer and the layers there are, when the graph has no such layer
     */
    public AttentionSoftmaxNode node(AttentionLayerId id) {
        AttentionSoftmaxNode node = byId.get(id);
        if (node == null) {
            throw new IllegalArgumentException("No attention layer " + id + " in " + source + "; it has "
                    + byId.keySet());
        }
        return node;
    }

    /** The scanned model (unchanged). */
    public ModelProto model() {
        return model;
    }

    /**
     * The whole UNet with the Softmax outputs of {@code layers} added as graph outputs after the original ones.
     *
     * @param layers layers of this graph; not modified
     * @throws IllegalArgumentException when a layer is not in this graph
     */
    public ModelProto withAttentionOutputs(Collection<AttentionLayerId> layers) {
        GraphProto.Builder graph = model.getGraph().toBuilder();
        List<String> existing = graph.getOutputList().stream().map(ValueInfoProto::getName).toList();
        for (AttentionLayerId id : layers) {
            String output = node(id).outputName();
            if (!existing.contains(output)) {
                // Declared by name only: ONNX Runtime infers the element type and shape, which differ between
                // exports (float16 models may keep an upcast float32 softmax, AttnProcessor2_0 gives rank 4).
                graph.addOutput(ValueInfoProto.newBuilder().setName(output));
            }
        }
        return model.toBuilder().setGraph(graph).build();
    }

    /**
     * The UNet cut down to what the Softmax outputs of {@code layers} depend on; those outputs are its only outputs.
     * ITO never uses the noise prediction, so its passes can stop after the last layer they capture (for SD 1.x
     * at 16x16 that skips the up path's 64x64 block and {@code conv_out}).
     *
     * @param layers layers of this graph, at least one; not modified
     * @throws IllegalArgumentException when the collection is empty or a layer is not in this graph
     */
    public ModelProto attentionOnly(Collection<AttentionLayerId> layers) {
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("An attention-only model needs at least one layer");
        }
        List<ValueInfoProto> outputs = new ArrayList<>();
        for (AttentionLayerId id : layers) {
            outputs.add(ValueInfoProto.newBuilder().setName(node(id).outputName()).build());
        }
        return model.toBuilder().setGraph(GraphPruning.cut(model.getGraph(), outputs)).build();
    }

    private static int heads(GraphProto graph, ShapeConstants constants, Found layer, Path source) {
        String scope = layer.nodeName.substring(0, layer.nodeName.lastIndexOf('/') + 1);
        List<String> reshapes = new ArrayList<>();
        for (NodeProto node : graph.getNodeList()) {
            if (!node.getOpType().equals("Reshape") || !node.getName().startsWith(scope)) {
                continue;
            }
            long[] shape = constants.evaluate(node.getInput(1));
            reshapes.add(node.getName() + " " + describe(shape));
            if (shape != null && shape.length == 4 && shape[2] != ShapeConstants.UNKNOWN && shape[2] > 0) {
                return Math.toIntExact(shape[2]);
            }
        }
        throw new ModelFormatException(source, "Cannot read the number of heads of attention layer "
                + layer.modulePath + ": looked for a Reshape in scope '" + scope + "' to a 4-D shape [batch, "
                + "sequence, heads, head_dim] whose heads entry is a constant; found "
                + (reshapes.isEmpty() ? "no Reshape there" : sample(reshapes)));
    }

    private static String describe(long[] shape) {
        if (shape == null) {
            return "(shape not constant)";
        }
        StringBuilder out = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            out.append(i == 0 ? "" : ", ").append(shape[i] == ShapeConstants.UNKNOWN ? "?" : Long.toString(shape[i]));
        }
        return out.append(']').toString();
    }

    private static int blockCount(GraphProto graph, Pattern pattern) {
        int max = -1;
        for (NodeProto node : graph.getNodeList()) {
            Matcher matcher = pattern.matcher(node.getName());
            if (matcher.find()) {
                max = Math.max(max, Integer.parseInt(matcher.group(1)));
            }
        }
        return max + 1;
    }

    private static String fusedAttentionHint(GraphProto graph) {
        Map<String, Integer> fused = new TreeMap<>();
        for (NodeProto node : graph.getNodeList()) {
            if (FUSED_ATTENTION_OPS.contains(node.getOpType())) {
                fused.merge(node.getOpType(), 1, Integer::sum);
            }
        }
        return fused.isEmpty() ? "" : ". The graph has fused attention operators " + fused + " (an ONNX Runtime "
                + "transformer-optimized export), whose probabilities cannot be exposed: use an unoptimized export";
    }

    private static String sample(List<String> names) {
        int shown = Math.min(names.size(), 5);
        return String.join(", ", names.subList(0, shown)) + (names.size() > shown ? ", ..." : "");
    }

    /** A matched Softmax node with the parts of its name that order it. */
    private static final class Found implements Comparable<Found> {
        final UNetPlace place;
        final int block;
        final int attention;
        final int transformerBlock;
        final AttentionKind kind;
        final String modulePath;
        final String nodeName;
        final String output;

        Found(Matcher matcher, String nodeName, String output) {
            this.place = matcher.group(1).startsWith("down") ? UNetPlace.DOWN
                    : matcher.group(1).startsWith("mid") ? UNetPlace.MID : UNetPlace.UP;
            String blockIndex = matcher.group(2) != null ? matcher.group(2) : matcher.group(3);
            this.block = blockIndex == null ? 0 : Integer.parseInt(blockIndex);
            this.attention = Integer.parseInt(matcher.group(4));
            this.transformerBlock = Integer.parseInt(matcher.group(5));
            this.kind = matcher.group(6).equals("attn1") ? AttentionKind.SELF : AttentionKind.CROSS;
            this.modulePath = matcher.group(1) + ".attentions." + attention + ".transformer_blocks."
                    + transformerBlock + "." + matcher.group(6);
            this.nodeName = nodeName;
            this.output = output;
        }

        @Override
        public int compareTo(Found other) {
            return Comparator.<Found>comparingInt(f -> f.place.ordinal())
                    .thenComparingInt(f -> f.block)
                    .thenComparingInt(f -> f.attention)
                    .thenComparingInt(f -> f.transformerBlock)
                    .thenComparingInt(f -> f.kind.ordinal())
                    .compare(this, other);
        }
    }
}
