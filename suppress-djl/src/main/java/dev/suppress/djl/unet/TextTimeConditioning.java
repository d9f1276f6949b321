package dev.suppress.djl.unet;

import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;

/**
 * The extra conditioning of a UNet with {@code addition_embed_type: "text_time"} (SDXL), diffusers'
 * {@code added_cond_kwargs}: the pooled text embedding of the second text encoder and the micro-conditioning ids.
 *
 * <p>Stable Diffusion 1.x/2.x UNets take none; {@link DjlDenoiser}'s overloads that take one are how an SDXL caller
 * passes it, one row per batch element in the order of the latents (unconditional and conditional halves alike).
 *
 * @param textEmbeds {@code [batch, P]} float32: {@code text_encoder_2}'s projected pooled output (SDXL: P = 1280)
 * @param timeIds    {@code [batch, K]}: SDXL base's {@code add_time_ids}, K = 6 (original height, width, crop top,
 *                   left, target height, width), each projected to {@code addition_time_embed_dim} sinusoid
 *                   features; {@code P + K * addition_time_embed_dim} must be the UNet's
 *                   {@code projection_class_embeddings_input_dim}
 */
public record TextTimeConditioning(Tensor textEmbeds, Tensor timeIds) {

    public TextTimeConditioning {
        if (textEmbeds == null || timeIds == null) {
            throw new IllegalArgumentException("TextTimeConditioning needs both textEmbeds and timeIds");
        }
        if (textEmbeds.rank() != 2 || timeIds.rank() != 2 || textEmbeds.dim(0) != timeIds.dim(0)) {
            throw new IllegalArgumentException("Expected textEmbeds [batch, P] and timeIds [batch, K] of one batch, "
                    + "got "
                    + Arrays.toString(textEmbeds.shape()) + " and " + Arrays.toString(timeIds.shape()));
        }
    }

    /** The batch size. */
    public int batch() {
        return textEmbeds.dim(0);
    }

    /**
     * SDXL base's {@code add_time_ids} as its pipeline builds them ({@code _get_add_time_ids}):
     * {@code original_size + crops_coords_top_left + target_size}, the same row {@code batch} times.
     *
     * @return {@code [batch, 6]}
     */
    public static Tensor sdxlTimeIds(int batch, int originalHeight, int originalWidth, int cropTop, int cropLeft,
                                     int targetHeight, int targetWidth) {
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be positive, got " + batch);
        }
        float[] row = {originalHeight, originalWidth, cropTop, cropLeft, targetHeight, targetWidth};
        float[] ids = new float[batch * row.length];
        for (int element = 0; element < batch; element++) {
            System.arraycopy(row, 0, ids, element * row.length, row.length);
        }
        return Tensor.wrapOwned(ids, batch, row.length);
    }
}
