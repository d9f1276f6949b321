package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PosteriorMeanEditorTest {

    @Test
    void replacesTheSampleByTheFirstHalfOfTheMoments() {
        Path file = Fixtures.path("tiny-sd-onnx/vae_encoder/model.onnx");
        ModelProto encoder = OnnxModelFile.read(file);
        assertTrue(PosteriorMeanEditor.samples(encoder), "the diffusers export samples latent_dist");

        ModelProto edited = PosteriorMeanEditor.exposePosteriorMean(encoder, file);
        GraphProto graph = edited.getGraph();
        assertFalse(PosteriorMeanEditor.samples(edited));
        assertEquals(1, graph.getOutputCount());
        NodeProto producer = graph.getNodeList().stream()
                .filter(n -> n.getOutputList().contains(graph.getOutput(0).getName())).findFirst().orElseThrow();
        // torch.chunk(moments, 2, dim=1)[0] of DiagonalGaussianDistribution, read from quant_conv's output.
        assertEquals("Slice", producer.getOpType());
        assertEquals("/quant_conv/Conv_output_0", producer.getInput(0));
        assertTrue(graph.getNodeList().stream().noneMatch(n -> n.getOpType().equals("Exp")),
                "the standard deviation branch is cut away");
    }

    @Test
    void leavesADeterministicEncoderAlone() {
        Path file = Fixtures.path("tiny-sd-onnx/vae_decoder/model.onnx");
        ModelProto decoder = OnnxModelFile.read(file);
        assertSame(decoder, PosteriorMeanEditor.exposePosteriorMean(decoder, file));
    }

    @Test
    void anUnexpectedSamplingGraphIsAClearError() {
        Path file = Fixtures.path("tiny-sd-onnx/vae_encoder/model.onnx");
        ModelProto encoder = OnnxModelFile.read(file);
        GraphProto graph = encoder.getGraph();
        // Make the output the noise itself: no Add(mean, std * noise) to take apart.
        String noise = graph.getNodeList().stream().filter(n -> n.getOpType().equals("RandomNormalLike"))
                .findFirst().orElseThrow().getOutput(0);
        ModelProto broken = encoder.toBuilder().setGraph(graph.toBuilder()
                .setOutput(0, graph.getOutput(0).toBuilder().setName(noise))).build();

        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> PosteriorMeanEditor.exposePosteriorMean(broken, file));
        assertTrue(error.getMessage().contains("is not produced by Add(mean, std * noise)"), error.getMessage());
    }
}
