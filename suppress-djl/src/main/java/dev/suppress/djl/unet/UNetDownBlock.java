package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/** A down block of the UNet: {@link CrossAttnDownBlock2D} or {@link DownBlock2D}. */
interface UNetDownBlock {

    /**
     * @param residuals receives each output kept for the skip connections, in order
     * @return the block's output; unspecified once the recorder is done
     */
    NDArray forward(NDArray hidden, NDArray temb, NDArray context, AttentionRecorder recorder, List<NDArray> residuals);
}
