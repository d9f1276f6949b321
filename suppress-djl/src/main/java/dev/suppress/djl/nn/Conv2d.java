package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.suppress.djl.weights.WeightLoader;

/**
 * {@code torch.nn.Conv2d} with a square kernel, equal stride and padding on both axes, and a bias.
 *
 * <p>While a gradient collector records (libtorch's grad mode: DJL's {@code hasGradient()} is false for
 * intermediate arrays), a convolution whose output channels are not a multiple of {@value #CHANNEL_BLOCK} runs with
 * its filters padded by zero filters to the next multiple and its output sliced back: the same function with the
 * same gradient. This avoids a wrong libtorch 2.7.1 CPU kernel. Measured on an AMD EPYC with AVX-512 (Zen 5), the
 * input gradient of a float32 3x3 stride-1 convolution is garbage (off by 1% to 20x, or NaN, varying between runs:
 * uninitialised memory) whenever libtorch hands it to oneDNN (batch 1 from 20480 input values on, e.g.
 * {@code [1, 32, 32, 32]}; {@code [1, 32, 25, 25]} was right) and it has 1-15, 17, 20, 24, 28 or 40 output
 * channels, while 16, 32, 48, 64 and 80 were exact, as were the forward pass, float64, 1x1 and stride-2 kernels.
 * It broke the tiny UNet's {@code conv_out} (32 to 4 channels), so every noise gradient (null-text inversion):
 * autograd -6.67 against a central difference of -4.54. Padded, the gradient agrees to 8e-6 and the forward pass
 * is bit-identical ({@code Conv2dGradientTest}). Inference does not take this path.
 */
public final class Conv2d {

    /** oneDNN's float32 channel block on AVX-512: output channel counts that are multiples of it are not affected. */
    static final int CHANNEL_BLOCK = 16;

    private static final Shape NO_DILATION = new Shape(1, 1);

    private final NDArray weight;
    private final NDArray bias;
    /** {@link #weight} and {@link #bias} with zero filters up to a multiple of the block, or null when a multiple. */
    private final NDArray paddedWeight;
    private final NDArray paddedBias;
    private final String realChannels;
    private final Shape stride;
    private final Shape padding;

    /**
     * @param prefix the module key; loads {@code prefix.weight} {@code [out, in, kernel, kernel]} and
     *               {@code prefix.bias} {@code [out]}
     */
    public Conv2d(WeightLoader loader, String prefix, int inChannels, int outChannels, int kernel, int stride,
                  int padding) {
        this.weight = loader.load(prefix + ".weight", outChannels, inChannels, kernel, kernel);
        this.bias = loader.load(prefix + ".bias", outChannels);
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
        int padded = (outChannels + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK * CHANNEL_BLOCK;
        if (padded != outChannels) {
            NDManager manager = weight.getManager();
            this.paddedWeight = weight.concat(manager.zeros(new Shape(padded - outChannels, inChannels, kernel, kernel),
                    weight.getDataType()), 0);
            this.paddedBias = bias.concat(manager.zeros(new Shape(padded - outChannels), bias.getDataType()), 0);
        } else {
            this.paddedWeight = null;
            this.paddedBias = null;
        }
        this.realChannels = ":, 0:" + outChannels;
    }

    /**
     * @param x {@code [batch, in, h, w]}; not modified
     * @return {@code [batch, out, h', w']} in {@code x}'s manager
     */
    public NDArray forward(NDArray x) {
        NDArray out;
        if (paddedWeight != null && JniUtils.isGradMode()) {
            out = ai.djl.nn.convolutional.Conv2d.conv2d(x, paddedWeight, paddedBias, stride, padding, NO_DILATION, 1)
                    .singletonOrThrow().get(realChannels);
        } else {
            out = ai.djl.nn.convolutional.Conv2d.conv2d(x, weight, bias, stride, padding, NO_DILATION, 1)
                    .singletonOrThrow();
        }
        // out elements x (in x kernel x kernel)
        Shape kernel = weight.getShape();
        Arithmetic.multiplyAdds(out.getShape().size() * kernel.get(1) * kernel.get(2) * kernel.get(3));
        return out;
    }
}
