package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.weights.WeightLoader;

import java.util.Arrays;

/**
 * diffusers {@code UNet2DConditionModel}'s {@code addition_embed_type == "text_time"} branch (SDXL):
 * {@code add_time_proj} (a {@code Timesteps} of width {@code addition_time_embed_dim}, with the time projection's
 * {@code flip_sin_to_cos} and {@code freq_shift}) applied to the flattened {@code time_ids}, reshaped to one row
 * per batch element, concatenated after {@code text_embeds}, cast to the compute type and passed through
 * {@code add_embedding} (a {@link TimestepEmbedding} MLP); the result {@code aug_emb} is added to the time embedding.
 */
final class AdditionEmbedding {

    private final int timeIdChannels;
    private final int inputDim;
    private final boolean flipSinToCos;
    private final int freqShift;
    private final TimestepEmbedding addEmbedding;

    AdditionEmbedding(WeightLoader loader, UNet2DConditionConfig config) {
        this.timeIdChannels = config.additionTimeEmbedDim();
        this.inputDim = config.projectionClassEmbeddingsInputDim();
        this.flipSinToCos = config.flipSinToCos();
        this.freqShift = config.freqShift();
        this.addEmbedding = new TimestepEmbedding(loader, "add_embedding", inputDim, config.timeEmbedDim(), config);
    }

    /** The input width of {@code add_embedding}: {@code P + K * addition_time_embed_dim}. */
    int inputDim() {
        return inputDim;
    }

    /** {@code addition_time_embed_dim}. */
    int timeIdChannels() {
        return timeIdChannels;
    }

    /**
     * {@code add_embeds = concat([text_embeds, add_time_proj(time_ids.flatten()).reshape(batch, -1)], -1)} in
     * float32, as torch computes it before the cast.
     *
     * @return {@code [batch * inputDim]}, row-major
     * @throws IllegalArgumentException when {@code P + K * addition_time_embed_dim} is not the UNet's input width
     */
    float[] addEmbeds(TextTimeConditioning conditioning) {
        Tensor text = conditioning.textEmbeds();
        Tensor ids = conditioning.timeIds();
        int textWidth = text.dim(1);
        int idCount = ids.dim(1);
        if ((long) textWidth + (long) idCount * timeIdChannels != inputDim) {
            throw new IllegalArgumentException("textEmbeds " + Arrays.toString(text.shape()) + " and timeIds "
                    + Arrays.toString(ids.shape()) + " give " + textWidth + " + " + idCount + " x " + timeIdChannels
                    + " add_embedding inputs, but the UNet's projection_class_embeddings_input_dim is " + inputDim);
        }
        int batch = conditioning.batch();
        float[] out = new float[batch * inputDim];
        for (int element = 0; element < batch; element++) {
            int row = element * inputDim;
            for (int i = 0; i < textWidth; i++) {
                out[row + i] = text.get(element * textWidth + i);
            }
            for (int id = 0; id < idCount; id++) {
                float[] sinusoid = TimestepEmbedding.sinusoid(ids.get(element * idCount + id), timeIdChannels,
                        flipSinToCos, freqShift);
                System.arraycopy(sinusoid, 0, out, row + textWidth + id * timeIdChannels, timeIdChannels);
            }
        }
        return out;
    }

    /**
     * @param manager     where the result lives
     * @param computeType the type of {@code add_embedding}'s weights
     * @return {@code aug_emb} {@code [batch, timeEmbedDim]} in {@code computeType}
     */
    NDArray forward(NDManager manager, TextTimeConditioning conditioning, DataType computeType) {
        NDArray input = ComputePrecision.cast(manager.create(addEmbeds(conditioning),
                new Shape(conditioning.batch(), inputDim)), computeType);
        return addEmbedding.mlp(input);
    }
}
