package dev.suppress.core.backend;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.tensor.Tensor;

/**
 * The UNet ({@code UNet2DConditionModel}) with attention capture: one evaluation of a batch at one timestep.
 */
public interface DenoiserWithAttention extends AutoCloseable {

    /** What the pipeline needs to know about the UNet. */
    UNetDescription description();

    /**
     * Evaluates the UNet.
     *
     * @param latents  {@code [batch, 4, h, w]}; not modified
     * @param timestep the diffusion timestep (0 .. 999), the same for the whole batch
     * @param contexts the text embeddings {@code [batch, 77, M]}; not modified
     * @param capture  the attention to return, or {@code null} for none
     * @return the noise prediction {@code [batch, 4, h, w]} and the captured maps
     */
    DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture);

    /**
     * {@link #denoise(Tensor, int, Tensor, AttentionCapture)} for a UNet that also takes a pooled text embedding
     * (SDXL, {@link TextEncoder#pooled}); the backend adds the size conditioning SDXL's pipeline gives by default
     * (original and target size the image size, crop at the top left).
     *
     * @param pooled one pooled embedding per batch element {@code [batch, P]}, in the order of the contexts, or
     *               {@code null} for a UNet that takes none (then this is the four-argument method)
     * @throws IllegalArgumentException when {@code pooled} is given to a UNet that takes none, by default
     */
    default DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                   AttentionCapture capture) {
        if (pooled != null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " takes no pooled text embedding");
        }
        return denoise(latents, timestep, contexts, capture);
    }

    /**
     * {@link #attention(Tensor, int, Tensor, AttentionCapture)} with a pooled embedding per batch element, as
     * {@link #denoise(Tensor, int, Tensor, Tensor, AttentionCapture)}.
     */
    default AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                    AttentionCapture capture) {
        if (pooled != null) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " takes no pooled text embedding");
        }
        return attention(latents, timestep, contexts, capture);
    }

    /**
     * Only the captured attention maps. ITO never uses the noise prediction, so a backend may stop the UNet
     * after the last layer the capture needs; by default this runs the whole UNet.
     */
    default AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
        return denoise(latents, timestep, contexts, capture).attention();
    }

    /**
     * The share of a full single-sample forward pass's arithmetic that {@link #attention} (and a gradient probe's
     * forward pass through the captured layers) performs for this capture: 1 when the backend does not stop early.
     * Work accounting counts attention-only passes with it.
     *
     * @param capture    the capture
     * @param latentSide the side of a square latent
     */
    default double attentionPassFraction(AttentionCapture capture, int latentSide) {
        return 1.0;
    }

    /**
     * {@link #attentionPassFraction(AttentionCapture, int)} for a latent {@code latentHeight x latentWidth}. By
     * default a square latent asks the two-argument method (so that a wrapper overriding only that one still
     * answers) and a rectangle gets 1.
     */
    default double attentionPassFraction(AttentionCapture capture, int latentHeight, int latentWidth) {
        return latentHeight == latentWidth ? attentionPassFraction(capture, latentHeight) : 1.0;
    }

    /** Releases native resources. */
    @Override
    void close();
}
