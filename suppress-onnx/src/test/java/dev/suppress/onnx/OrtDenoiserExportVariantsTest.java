package dev.suppress.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.Device;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Exports unlike the fixture's: optimum's int64 timestep, and attention exported through
 * {@code scaled_dot_product_attention} ({@code AttnProcessor2_0}), whose Softmax output is
 * {@code [batch, heads, pixels, keys]}. A hand-built graph stands in for such a UNet: one self-attention layer
 * over the latent's pixels with 2 heads, and {@code out_sample = sample + timestep}.
 */
class OrtDenoiserExportVariantsTest {

    /** The same float32 softmax in Java and in ONNX Runtime, on dot products of 2 terms. */
    private static final Tolerance FLOAT32 = new Tolerance(1e-6, 1e-7, "float32 softmax of 2-term dot products");
    private static final int HEADS = 2;
    private static final int CHANNELS = 4;
    private static final String SCOPE = "/down_blocks.0/attentions.0/transformer_blocks.0/attn1/";

    @Test
    void takesAnInt64TimestepAndReshapesBatchHeadsProbabilities(@TempDir Path folder) throws IOException {
        writeFolder(folder);
        Random random = new Random(345);
        float[] values = new float[2 * CHANNELS * 2 * 2];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        Tensor latents = Tensor.of(values, 2, CHANNELS, 2, 2);
        Tensor contexts = Tensor.zeros(2, 77, 8);
        AttentionLayerId layer = new AttentionLayerId(UNetPlace.DOWN, AttentionKind.SELF, 0);

        try (OrtDenoiser denoiser = OrtDenoiser.open(OrtModelFolder.of(folder), Device.CPU, false,
                (raw, capture) -> null)) {
            assertEquals(HEADS, denoiser.description().attentionLayers().get(0).heads());
            assertEquals(8, denoiser.description().crossAttentionDim(), "from the context input's shape");

            OrtDenoiser.UNetRun full = denoiser.run(latents, 7, contexts, List.of(layer), false);
            float[] expectedNoise = values.clone();
            for (int i = 0; i < expectedNoise.length; i++) {
                expectedNoise[i] += 7;
            }
            TensorAssertions.assertClose("out_sample = sample + timestep", Tensor.of(expectedNoise, 2, CHANNELS, 2, 2),
                    full.noisePrediction(), FLOAT32);

            Tensor probabilities = full.attention().probabilities().get(layer);
            assertArrayEquals(new int[] {2 * HEADS, 4, 4}, probabilities.shape(), "[batch*heads, pixels, keys]");
            TensorAssertions.assertClose("softmax rows b*heads + h", expectedProbabilities(values),
                    probabilities, FLOAT32);
            assertEquals(probabilities, denoiser.run(latents, 7, contexts, List.of(layer), true).attention()
                    .probabilities().get(layer), "the cut model needs neither timestep nor context");
        }
    }

    /** softmax_j(q_i . q_j) per batch element and head, with q the head's 2 channels of each pixel. */
    private static Tensor expectedProbabilities(float[] sample) {
        int pixels = 4;
        float[] out = new float[2 * HEADS * pixels * pixels];
        for (int b = 0; b < 2; b++) {
            for (int h = 0; h < HEADS; h++) {
                for (int i = 0; i < pixels; i++) {
                    float[] scores = new float[pixels];
                    float max = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < pixels; j++) {
                        for (int d = 0; d < 2; d++) {
                            int channel = h * 2 + d;
                            scores[j] += sample[(b * CHANNELS + channel) * pixels + i]
                                    * sample[(b * CHANNELS + channel) * pixels + j];
                        }
                        max = Math.max(max, scores[j]);
                    }
                    float sum = 0;
                    for (int j = 0; j < pixels; j++) {
                        scores[j] = (float) Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < pixels; j++) {
                        out[((b * HEADS + h) * pixels + i) * pixels + j] = scores[j] / sum;
                    }
                }
            }
        }
        return Tensor.wrapOwned(out, 2 * HEADS, pixels, pixels);
    }

    /** A model folder whose UNet is the hand-built graph (the other parts are never opened here). */
    private static void writeFolder(Path folder) throws IOException {
        for (String part : new String[] {"text_encoder", "vae_decoder"}) {
            Files.createDirectories(folder.resolve(part));
            Files.write(folder.resolve(part).resolve("model.onnx"), new byte[0]);
        }
        Files.createDirectories(folder.resolve("unet"));
        Files.write(folder.resolve("unet/model.onnx"), unet().toByteArray());
    }

    private static ModelProto unet() {
        GraphProto graph = GraphProto.newBuilder().setName("sdpa_unet")
                .addInput(input("sample", TensorProto.DataType.FLOAT_VALUE, "batch", CHANNELS, "height", "width"))
                .addInput(input("timestep", TensorProto.DataType.INT64_VALUE, "batch"))
                .addInput(input("encoder_hidden_states", TensorProto.DataType.FLOAT_VALUE, "batch", 77, 8))
                .addInitializer(ints("flat", 0, CHANNELS, -1))
                .addInitializer(ints("heads_shape", 0, -1, HEADS, 2))
                .addInitializer(ints("column", -1, 1, 1, 1))
                // query.view(batch, -1, heads, head_dim).transpose(1, 2), as AttnProcessor2_0 writes it
                .addNode(node("Reshape", SCOPE + "Reshape_0", List.of("sample", "flat"), "x"))
                .addNode(node("Transpose", SCOPE + "Transpose_0", List.of("x"), "pixels_first", perm(0, 2, 1)))
                .addNode(node("Reshape", SCOPE + "Reshape", List.of("pixels_first", "heads_shape"), "q4"))
                .addNode(node("Transpose", SCOPE + "Transpose", List.of("q4"), "q", perm(0, 2, 1, 3)))
                .addNode(node("Transpose", SCOPE + "Transpose_1", List.of("q4"), "k_t", perm(0, 2, 3, 1)))
                .addNode(node("MatMul", SCOPE + "MatMul", List.of("q", "k_t"), "scores"))
                .addNode(node("Softmax", SCOPE + "Softmax", List.of("scores"), SCOPE + "Softmax_output_0",
                        AttributeProto.newBuilder().setName("axis").setType(AttributeProto.AttributeType.INT)
                                .setI(-1).build()))
                .addNode(node("Cast", "/time_proj/Cast", List.of("timestep"), "t_float",
                        AttributeProto.newBuilder().setName("to").setType(AttributeProto.AttributeType.INT)
                                .setI(TensorProto.DataType.FLOAT_VALUE).build()))
                .addNode(node("Reshape", "/time_proj/Reshape", List.of("t_float", "column"), "t_column"))
                .addNode(node("Add", "/conv_out/Add", List.of("sample", "t_column"), "out_sample"))
                .addOutput(ValueInfoProto.newBuilder().setName("out_sample").setType(TypeProto.newBuilder()
                        .setTensorType(TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE))))
                .build();
        return ModelProto.newBuilder().setIrVersion(8).setGraph(graph)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setVersion(14)).build();
    }

    private static ValueInfoProto input(String name, int type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object dim : dims) {
            shape.addDim(dim instanceof Integer value ? TensorShapeProto.Dimension.newBuilder().setDimValue(value)
                    : TensorShapeProto.Dimension.newBuilder().setDimParam((String) dim));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder()
                .setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(shape))).build();
    }

    private static TensorProto ints(String name, long... values) {
        TensorProto.Builder tensor = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.INT64_VALUE).addDims(values.length);
        for (long value : values) {
            tensor.addInt64Data(value);
        }
        return tensor.build();
    }

    private static AttributeProto perm(long... axes) {
        AttributeProto.Builder attribute = AttributeProto.newBuilder().setName("perm")
                .setType(AttributeProto.AttributeType.INTS);
        for (long axis : axes) {
            attribute.addInts(axis);
        }
        return attribute.build();
    }

    private static NodeProto node(String op, String name, List<String> inputs, String output,
                                  AttributeProto... attributes) {
        return NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(inputs).addOutput(output)
                .addAllAttribute(List.of(attributes)).build();
    }
}
