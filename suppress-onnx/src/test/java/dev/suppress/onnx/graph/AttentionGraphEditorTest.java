package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AttentionGraphEditorTest {

    /** The tiny UNet: attention_head_dim 2 (MANIFEST.md), so every attention layer has 2 heads. */
    private static final int TINY_HEADS = 2;

    private static Path unetFile;
    private static AttentionGraphEditor editor;

    @BeforeAll
    static void scanTinyUNet() {
        unetFile = Fixtures.path("tiny-sd-onnx/unet/model.onnx");
        editor = AttentionGraphEditor.scan(OnnxModelFile.read(unetFile), unetFile);
    }

    @Test
    void namesEveryLayerAsTheReferenceAttentionStoreDoes() throws IOException {
        JsonNode names = new ObjectMapper().readTree(Fixtures.path("manifest.json").toFile())
                .path("files").path("components/unet.safetensors").path("attention_layer_names");
        Map<String, String> expected = new HashMap<>();
        for (Map.Entry<String, JsonNode> entry : names.properties()) {
            expected.put(entry.getKey(), entry.getValue().asText());
        }
        assertEquals(20, expected.size(), "manifest lists the 20 attention layers of the tiny UNet");

        Map<String, String> actual = new HashMap<>();
        for (AttentionLayerInfo layer : editor.layers()) {
            actual.put(layer.id().referenceName(), layer.modulePath());
        }
        assertEquals(expected, actual);
    }

    @Test
    void derivesResolutionFromTheBlockAndHeadsFromTheReshapeConstants() {
        Map<String, Integer> resolutionAt32 = new HashMap<>();
        for (AttentionLayerInfo layer : editor.layers()) {
            resolutionAt32.put(layer.modulePath().replaceAll("\\.transformer_blocks.*", ""), layer.resolution(32));
            assertEquals(TINY_HEADS, layer.heads(), layer.modulePath());
        }
        // MANIFEST.md: attention at 32x32 (down0, up3), 16x16 (down1, up2), 8x8 (down2, up1), 4x4 (mid).
        assertEquals(Map.of("down_blocks.0.attentions.0", 32, "down_blocks.1.attentions.0", 16,
                "down_blocks.2.attentions.0", 8, "mid_block.attentions.0", 4,
                "up_blocks.1.attentions.0", 8, "up_blocks.1.attentions.1", 8,
                "up_blocks.2.attentions.0", 16, "up_blocks.2.attentions.1", 16,
                "up_blocks.3.attentions.0", 32, "up_blocks.3.attentions.1", 32), resolutionAt32);
    }

    @Test
    void listsLayersInForwardOrder() {
        List<String> order = editor.softmaxNodes().stream().map(AttentionSoftmaxNode::nodeName).toList();
        List<String> graphOrder = editor.model().getGraph().getNodeList().stream()
                .filter(n -> n.getOpType().equals("Softmax")).map(NodeProto::getName).toList();
        assertEquals(graphOrder, order, "the exporter writes nodes in execution order");
    }

    @Test
    void addsSoftmaxOutputsAfterTheNoisePrediction() {
        AttentionLayerId cross = new AttentionLayerId(UNetPlace.DOWN, AttentionKind.CROSS, 1);
        AttentionLayerId self = new AttentionLayerId(UNetPlace.UP, AttentionKind.SELF, 3);
        ModelProto edited = editor.withAttentionOutputs(List.of(cross, self));

        List<String> outputs = edited.getGraph().getOutputList().stream().map(ValueInfoProto::getName).toList();
        assertEquals(List.of("out_sample", "/down_blocks.1/attentions.0/transformer_blocks.0/attn2/Softmax_output_0",
                "/up_blocks.2/attentions.1/transformer_blocks.0/attn1/Softmax_output_0"), outputs);
        assertEquals(editor.model().getGraph().getNodeCount(), edited.getGraph().getNodeCount());
        assertEquals(1, editor.model().getGraph().getOutputCount(), "the scanned model is left unchanged");
    }

    @Test
    void cutsTheGraphAfterTheLastCapturedLayer() {
        List<AttentionLayerId> sixteen = editor.layers().stream().filter(l -> l.resolution(32) == 16)
                .map(AttentionLayerInfo::id).toList();
        GraphProto cut = editor.attentionOnly(sixteen).getGraph();
        GraphProto full = editor.model().getGraph();

        assertEquals(sixteen.size(), cut.getOutputCount());
        assertTrue(cut.getNodeCount() < full.getNodeCount());
        assertTrue(cut.getNodeList().stream().noneMatch(n -> n.getName().startsWith("/up_blocks.3/")
                || n.getName().startsWith("/conv_out")), "nothing after up_blocks.2 is needed");
        assertTrue(cut.getNodeList().stream().anyMatch(n -> n.getName().startsWith("/up_blocks.2/attentions.1/")));
        assertInitializersAreExactlyThoseRead(cut);
        assertTrue(cut.getInitializerList().stream().anyMatch(t -> t.getDataLocation()
                == TensorProto.DataLocation.EXTERNAL), "external weights keep their weights.pb references");
    }

    @Test
    void cutToTheFirstLayerDropsTheUnusedInputsAndEverythingAfterIt() {
        AttentionLayerId first = new AttentionLayerId(UNetPlace.DOWN, AttentionKind.SELF, 0);
        GraphProto cut = editor.attentionOnly(List.of(first)).getGraph();
        List<String> inputs = cut.getInputList().stream().map(ValueInfoProto::getName).toList();

        assertFalse(inputs.contains("encoder_hidden_states"), "attn1 of down_blocks.0 runs before any attn2");
        assertTrue(inputs.contains("sample"));
        assertTrue(cut.getNodeList().stream().noneMatch(n -> n.getName().contains("/attn2/")));
        assertInitializersAreExactlyThoseRead(cut);
    }

    @Test
    void rejectsALayerTheGraphDoesNotHave() {
        AttentionLayerId missing = new AttentionLayerId(UNetPlace.MID, AttentionKind.CROSS, 3);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> editor.attentionOnly(List.of(missing)));
        assertTrue(error.getMessage().contains("mid_cross_3"), error.getMessage());
    }

    @Test
    void aGraphWhoseSoftmaxIsNotUNetAttentionIsAClearError() {
        Path decoder = Fixtures.path("tiny-sd-onnx/vae_decoder/model.onnx");
        ModelProto model = OnnxModelFile.read(decoder);
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> AttentionGraphEditor.scan(model, decoder));

        String message = error.getMessage();
        assertTrue(message.contains("transformer_blocks.N/{attn1|attn2}/Softmax"), message);
        assertTrue(message.contains("found 1 Softmax node(s)"), message);
        assertTrue(message.contains("/decoder/mid_block/attentions.0/Softmax"), message);
        assertTrue(message.contains(decoder.toString()), message);
    }

    @Test
    void aGraphWithoutAnySoftmaxIsAClearError() {
        ModelProto model = model(List.of(node("Relu", "/conv_in/Relu", List.of("sample"), "hidden")), "hidden");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> AttentionGraphEditor.scan(model, Path.of("built-in-test.onnx")));
        assertTrue(error.getMessage().contains("found 0 Softmax node(s) among 1 nodes"), error.getMessage());
    }

    @Test
    void fusedAttentionOperatorsAreNamedInTheError() {
        NodeProto fused = node("MultiHeadAttention", "/down_blocks.0/attentions.0/transformer_blocks.0/attn1/MHA",
                List.of("sample"), "hidden").toBuilder().setDomain("com.microsoft").build();
        ModelProto model = model(List.of(fused), "hidden");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> AttentionGraphEditor.scan(model, Path.of("optimized.onnx")));
        assertTrue(error.getMessage().contains("{MultiHeadAttention=1}"), error.getMessage());
    }

    @Test
    void headsThatCannotBeReadAreAClearError() {
        String scope = "/down_blocks.0/attentions.0/transformer_blocks.0/attn1/";
        ModelProto model = model(List.of(node("Softmax", scope + "Softmax", List.of("sample"), "probs")), "probs");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> AttentionGraphEditor.scan(model, Path.of("no-reshape.onnx")));
        assertTrue(error.getMessage().contains("number of heads"), error.getMessage());
        assertTrue(error.getMessage().contains("no Reshape there"), error.getMessage());
    }

    @Test
    void readsHeadsFromAReshapeToConstantShape() {
        String scope = "/mid_block/attentions.0/transformer_blocks.0/attn2/";
        TensorProto shape = TensorProto.newBuilder().setName("shape").setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(4).addAllInt64Data(List.of(1L, -1L, 8L, 40L)).build();
        ModelProto model = model(List.of(
                node("Reshape", scope + "Reshape", List.of("sample", "shape"), "query"),
                node("Softmax", scope + "Softmax", List.of("query"), "probs")), "probs");
        model = model.toBuilder().setGraph(model.getGraph().toBuilder().addInitializer(shape)).build();

        AttentionLayerInfo layer = AttentionGraphEditor.scan(model, Path.of("static.onnx")).layers().get(0);
        assertEquals(8, layer.heads());
        assertEquals(new AttentionLayerId(UNetPlace.MID, AttentionKind.CROSS, 0), layer.id());
    }

    private static void assertInitializersAreExactlyThoseRead(GraphProto graph) {
        Set<String> read = new HashSet<>();
        graph.getNodeList().forEach(n -> read.addAll(n.getInputList()));
        for (TensorProto initializer : graph.getInitializerList()) {
            assertTrue(read.contains(initializer.getName()), "unused initializer " + initializer.getName());
        }
    }

    private static NodeProto node(String op, String name, List<String> inputs, String output) {
        return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output).build();
    }

    private static ModelProto model(List<NodeProto> nodes, String output) {
        TypeProto floats = TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                .setElemType(TensorProto.DataType.FLOAT_VALUE)).build();
        GraphProto graph = GraphProto.newBuilder().setName("test").addAllNode(nodes)
                .addInput(ValueInfoProto.newBuilder().setName("sample").setType(floats))
                .addOutput(ValueInfoProto.newBuilder().setName(output).setType(floats)).build();
        return ModelProto.newBuilder().setIrVersion(7).setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(14)).build();
    }
}
