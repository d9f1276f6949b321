package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code Downsample2D} with {@code use_conv=True}: a 3x3 convolution of stride 2. With
 * {@code padding = 0} (the VAE encoder) diffusers first pads one zero column on the right and one zero row at the
 * bottom; the UNet uses {@code padding = 1}.
 */
public final class Downsample2D {

    private static final Shape RIGHT_AND_BOTTOM = new Shape(0, 1, 0, 1);

    private final Conv2d conv;
    private final boolean padRightBottom;

    /** @param prefix the module key, e.g. {@code down_blocks.0.downsamplers.0}; loads {@code prefix.conv.*} */
    public Downsample2D(WeightLoader loader, String prefix, int channels, int padding) {
        this.conv = new Conv2d(loader, prefix + ".conv", channels, channels, 3, 2, padding);
        this.padRightBottom = padding == 0;
    }

    /**
     * @param x {@code [batch, c, h, w]}; not modified
     * @return {@code [batch, c, ~h/2, ~w/2]}
     */
    public NDArray forward(NDArray x) {
        return conv.forward(padRightBottom ? x.pad(RIGHT_AND_BOTTOM, 0) : x);
    }
}
