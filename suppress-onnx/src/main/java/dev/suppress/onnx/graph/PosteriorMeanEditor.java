package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.suppress.core.io.ModelFormatException;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Makes an exported VAE encoder output the posterior mean instead of a sample.
 *
 * <p>The diffusers export script traces {@code vae.encode(sample).latent_dist.sample()}, so its graph ends in
 * {@code DiagonalGaussianDistribution.sample}: {@code latent_sample = mean + std * RandomNormalLike(...)}, where
 * {@code mean} is the first half of the {@code quant_conv} moments ({@code torch.chunk(moments, 2, dim=1)[0]}, a
 * {@code Slice}). Real-image editing needs the mean (ALGORITHM.md §6, {@code NullInversion.image2latent} uses
 * {@code latent_dist.mean}). This edit finds the final {@code Add} whose one operand depends on a random node,
 * makes the other operand the only output, and cuts away the sampling branch, so the session is deterministic.
 *
 * <p>Exports without a random node are returned unchanged: they output either the mean or the moments
 * {@code [batch, 2*latent_channels, h, w]} (optimum's {@code latent_parameters}), whose first half the backend
 * takes at run time.
 */
public final class PosteriorMeanEditor {

    private static final Set<String> RANDOM_OPS = Set.of("RandomNormal", "RandomNormalLike", "RandomUniform",
            "RandomUniformLike", "Multinomial", "Bernoulli");

    private PosteriorMeanEditor() {
    }

    /** True when the graph draws random numbers (the encoder samples the posterior). */
    public static boolean samples(ModelProto model) {
        for (NodeProto node : model.getGraph().getNodeList()) {
            if (RANDOM_OPS.contains(node.getOpType())) {
                return true;
            }
        }
        return false;
    }

    /**
     * The encoder with the posterior mean as its only output.
     *
     * @param encoder the exported VAE encoder; not modified
     * @param source  the file it came from, for error messages
     * @return {@code encoder} itself when it does not sample; otherwise the edited model
     * @throws ModelFormatException when the graph samples but its output is not {@code mean + std * noise}
     */
    public static ModelProto exposePosteriorMean(ModelProto encoder, Path source) {
        if (!samples(encoder)) {
            return encoder;
        }
        GraphProto graph = encoder.getGraph();
        if (graph.getOutputCount() != 1) {
            throw new ModelFormatException(source, "Expected a VAE encoder with one output (the latent sample), "
                    + "found " + graph.getOutputCount() + ": " + graph.getOutputList().stream()
                    .map(ValueInfoProto::getName).toList());
        }
        String latent = graph.getOutput(0).getName();
        Map<String, Integer> producers = GraphPruning.producers(graph);
        Integer producer = producers.get(latent);
        NodeProto add = producer == null ? null : graph.getNode(producer);
        if (add == null || !add.getOpType().equals("Add") || add.getInputCount() != 2) {
            throw new ModelFormatException(source, "The VAE encoder samples the posterior but its output '" + latent
                    + "' is not produced by Add(mean, std * noise) (found "
                    + (add == null ? "no producing node" : add.getOpType() + " " + add.getName())
                    + "); cannot expose the posterior mean");
        }
        boolean firstRandom = dependsOnRandom(graph, producers, add.getInput(0));
        boolean secondRandom = dependsOnRandom(graph, producers, add.getInput(1));
        if (firstRandom == secondRandom) {
            throw new ModelFormatException(source, "The VAE encoder's output Add " + add.getName() + " has "
                    + (firstRandom ? "both" : "neither") + " operand(s) depending on a random node; expected "
                    + "Add(mean, std * noise) with exactly one; cannot expose the posterior mean");
        }
        String mean = firstRandom ? add.getInput(1) : add.getInput(0);
        ValueInfoProto output = graph.getOutput(0).toBuilder().setName(mean).build();
        return encoder.toBuilder().setGraph(GraphPruning.cut(graph, List.of(output))).build();
    }

    private static boolean dependsOnRandom(GraphProto graph, Map<String, Integer> producers, String tensor) {
        boolean[] ancestors = GraphPruning.ancestors(graph, producers, List.of(tensor));
        for (int i = 0; i < ancestors.length; i++) {
            if (ancestors[i] && RANDOM_OPS.contains(graph.getNode(i).getOpType())) {
                return true;
            }
        }
        return false;
    }
}
