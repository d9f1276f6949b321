package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/** An up block of the UNet: {@link CrossAttnUpBlock2D} or {@link UpBlock2D}. */
interface UNetUpBlock {

    /** How many skip connections the block consumes (its resnets). */
    int resnetCount();

    /**
     * @param residuals    the skip connections as a stack: each resnet takes (removes) the last one
     * @param upsampleSize {@code {h, w}} for the upsampler when the latent side is not a multiple of the total
     *                     downsampling, else {@code null}
     * @return the block's output; unspecified once the recorder is done
     */
    NDArray forward(NDArray hidden, List<NDArray> residuals, NDArray temb, NDArray context,
                    AttentionRecorder recorder, long[] upsampleSize);
}
