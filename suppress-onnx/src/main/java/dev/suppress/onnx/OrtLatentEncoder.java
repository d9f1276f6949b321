package dev.suppress.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.onnx.graph.OnnxModelFile;
import dev.suppress.onnx.graph.PosteriorMeanEditor;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/**
 * The VAE encoder ({@code AutoencoderKL.encode}, {@code quant_conv} included) from {@code vae_encoder/model.onnx},
 * returning the posterior mean times the VAE scaling factor ({@code NullInversion.image2latent}, ALGORITHM.md §6).
 *
 * <p>The diffusers export samples the posterior inside the graph ({@code RandomNormalLike}); the graph is edited
 * to output the mean instead ({@link PosteriorMeanEditor}). An export whose output is the moments
 * {@code [batch, 2*C, h, w]} (mean, then log-variance) is cut to its first {@code C} channels here.
 */
final class OrtLatentEncoder implements LatentEncoder {

    static final String COMPONENT = "vae_encoder";
    private static final int LATENT_CHANNELS = 4;

    private final OrtModelSession session;
    private final double scalingFactor;
    private final String inputName;
    private final String outputName;
    private final OrtInputs feed = new OrtInputs();

    /** Opens and edits the encoder of {@code folder}. */
    static OrtLatentEncoder open(OrtModelFolder folder, Device device, boolean allowCpuFallback) {
        Path source = folder.model(COMPONENT);
        var model = PosteriorMeanEditor.exposePosteriorMean(OnnxModelFile.read(source), source);
        OrtModelSession session = OrtModelSession.open(COMPONENT, model, source, device, allowCpuFallback);
        return new OrtLatentEncoder(session, folder.vaeScalingFactor());
    }

    /** Takes ownership of {@code session}; closes it when the model does not look like a VAE encoder. */
    OrtLatentEncoder(OrtModelSession session, double scalingFactor) {
        this.session = session;
        this.scalingFactor = scalingFactor;
        try {
            Map<String, TensorInfo> inputs = session.inputs();
            Map.Entry<String, TensorInfo> input = inputs.entrySet().iterator().next();
            if (inputs.size() != 1 || input.getValue().type != OnnxJavaType.FLOAT
                    || input.getValue().getShape().length != 4) {
                throw new ModelFormatException(session.source(), "Expected a VAE encoder with one float32 input "
                        + "[batch, 3, H, W], found " + inputs);
            }
            inputName = input.getKey();
            if (session.outputs().size() != 1) {
                throw new ModelFormatException(session.source(), "Expected a VAE encoder with one output after "
                        + "exposing the posterior mean, found " + session.outputs().keySet());
            }
            outputName = session.outputs().keySet().iterator().next();
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException when {@code images} is not {@code [batch, 3, H, W]}
     */
    @Override
    public synchronized Tensor encode(Tensor images) {
        if (images.rank() != 4 || images.dim(1) != 3) {
            throw new IllegalArgumentException("Expected images [batch, 3, H, W], got " + images);
        }
        Tensor output;
        try (OnnxTensor input = feed.floats(images, OrtInputs.shapeOf(images))) {
            output = session.run(Map.of(inputName, input), Set.of(outputName), "encoding " + images)
                    .get(outputName);
        } catch (OrtException e) {
            throw new OrtExecutionException(COMPONENT + ": cannot create the input tensor", e);
        }
        int channels = output.rank() == 4 ? output.dim(1) : -1;
        if (channels != LATENT_CHANNELS && channels != 2 * LATENT_CHANNELS) {
            throw new ModelFormatException(session.source(), "VAE encoder output '" + outputName + "' has shape "
                    + output + "; expected the mean [batch, " + LATENT_CHANNELS + ", h, w] or the moments [batch, "
                    + 2 * LATENT_CHANNELS + ", h, w]");
        }
        return scaledMean(output);
    }

    /** The first {@value #LATENT_CHANNELS} channels (the mean) times the scaling factor, in a new tensor. */
    private Tensor scaledMean(Tensor output) {
        int batch = output.dim(0);
        int plane = output.dim(2) * output.dim(3);
        int meanSize = LATENT_CHANNELS * plane;
        int stride = output.dim(1) * plane;
        float factor = (float) scalingFactor;
        float[] values = output.toArray();
        float[] mean = new float[batch * meanSize];
        for (int b = 0; b < batch; b++) {
            int from = b * stride;
            int to = b * meanSize;
            for (int i = 0; i < meanSize; i++) {
                mean[to + i] = values[from + i] * factor;
            }
        }
        return Tensor.wrapOwned(mean, batch, LATENT_CHANNELS, output.dim(2), output.dim(3));
    }

    /** The VAE scaling factor the mean is multiplied by. */
    double scalingFactor() {
        return scalingFactor;
    }

    /** Where the encoder runs. */
    Device device() {
        return session.device();
    }

    @Override
    public void close() {
        session.close();
    }
}
