package dev.suppress.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.tensor.Tensor;

import java.util.Map;
import java.util.Set;

/**
 * The VAE decoder ({@code AutoencoderKL.decode}, {@code post_quant_conv} included) from
 * {@code vae_decoder/model.onnx}. The export takes the unscaled latent ({@code latent_sample}, as diffusers'
 * {@code OnnxStableDiffusionPipeline} feeds it {@code latents / 0.18215}), so this class divides by the VAE
 * scaling factor first (ALGORITHM.md §5).
 */
final class OrtLatentDecoder implements LatentDecoder {

    static final String COMPONENT = "vae_decoder";

    private final OrtModelSession session;
    private final double scalingFactor;
    private final String inputName;
    private final String outputName;
    private final OrtInputs feed = new OrtInputs();

    /** Takes ownership of {@code session}; closes it when the model does not look like a VAE decoder. */
    OrtLatentDecoder(OrtModelSession session, double scalingFactor) {
        this.session = session;
        this.scalingFactor = scalingFactor;
        try {
            Map<String, TensorInfo> inputs = session.inputs();
            if (inputs.size() != 1) {
                throw new ModelFormatException(session.source(), "Expected a VAE decoder with one input (the "
                        + "latent sample), found " + inputs.keySet());
            }
            Map.Entry<String, TensorInfo> input = inputs.entrySet().iterator().next();
            if (input.getValue().type != OnnxJavaType.FLOAT || input.getValue().getShape().length != 4) {
                throw new ModelFormatException(session.source(), "VAE decoder input '" + input.getKey() + "' is "
                        + input.getValue() + "; expected float32 [batch, 4, h, w]");
            }
            inputName = input.getKey();
            outputName = session.outputs().keySet().iterator().next();
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException when {@code latents} is not rank 4
     */
    @Override
    public synchronized Tensor decode(Tensor latents) {
        if (latents.rank() != 4) {
            throw new IllegalArgumentException("Expected latents [batch, 4, h, w], got " + latents);
        }
        // ALGORITHM.md §5: decode latents / scaling_factor (1 / 0.18215 for SD 1.x).
        float[] unscaled = latents.toArray();
        float inverse = (float) (1.0 / scalingFactor);
        for (int i = 0; i < unscaled.length; i++) {
            unscaled[i] *= inverse;
        }
        try (OnnxTensor input = feed.floats(Tensor.wrapOwned(unscaled, latents.shape()),
                OrtInputs.shapeOf(latents))) {
            return session.run(Map.of(inputName, input), Set.of(outputName), "decoding " + latents)
                    .get(outputName);
        } catch (OrtException e) {
            throw new OrtExecutionException(COMPONENT + ": cannot create the input tensor", e);
        }
    }

    /** The VAE scaling factor the latents are divided by. */
    double scalingFactor() {
        return scalingFactor;
    }

    /** Where the decoder runs. */
    Device device() {
        return session.device();
    }

    @Override
    public void close() {
        session.close();
    }
}
