package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.weights.WeightLoader;

/** diffusers {@code UNetMidBlock2D} as the VAE uses it: resnet, attention, resnet, without a time embedding. */
final class UNetMidBlock2D {

    private final ResnetBlock2D first;
    private final AttentionBlock attention;
    private final ResnetBlock2D second;

    /** @param prefix {@code encoder.mid_block} or {@code decoder.mid_block} */
    UNetMidBlock2D(WeightLoader loader, String prefix, int channels, int groups) {
        this.first = new ResnetBlock2D(loader, prefix + ".resnets.0", channels, channels, 0, groups, Encoder.EPS, 1.0);
        this.attention = new AttentionBlock(loader, prefix + ".attentions.0", channels, groups, Encoder.EPS);
        this.second = new ResnetBlock2D(loader, prefix + ".resnets.1", channels, channels, 0, groups, Encoder.EPS,
                1.0);
    }

    NDArray forward(NDArray x) {
        return second.forward(attention.forward(first.forward(x, null)), null);
    }
}
