package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code Upsample2D} with {@code use_conv=True}: nearest-neighbour upsampling
 * ({@code F.interpolate(mode="nearest")}) to twice the size, or to an explicit size, then a 3x3 convolution.
 */
public final class Upsample2D {

    /** DJL's interpolation mode code for nearest neighbour ({@code torch.nn.functional.interpolate}). */
    private static final int NEAREST = 0;

    private final Conv2d conv;

    /** @param prefix the module key, e.g. {@code up_blocks.0.upsamplers.0}; loads {@code prefix.conv.*} */
    public Upsample2D(WeightLoader loader, String prefix, int channels) {
        this.conv = new Conv2d(loader, prefix + ".conv", channels, channels, 3, 1, 1);
    }

    /**
     * @param x          {@code [batch, c, h, w]}; not modified
     * @param outputSize {@code {height, width}} to upsample to, or {@code null} for {@code {2h, 2w}}
     * @return {@code [batch, c, height, width]}
     */
    public NDArray forward(NDArray x, long[] outputSize) {
        long[] size = outputSize != null ? outputSize
                : new long[] {2 * x.getShape().get(2), 2 * x.getShape().get(3)};
        return Intermediates.then(x.getNDArrayInternal().interpolation(size, NEAREST, false), conv::forward);
    }
}
