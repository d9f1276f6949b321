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
 *
 * <p>In a part loaded in bfloat16 ({@link WeightLoader#matmulType}) the filters and bias are held in bfloat16 and the
 * convolution runs through {@link Bf16Kernels} (float32 in and out), the padding above included.
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
    /** Null in float32 and float16. */
    private final Bf16Kernels bf16;

    /**
     * @param prefix the module key; loads {@code prefix.weight} {@code [out, in, kernel, kernel]} and
     *               {@code prefix.bias} {@code [out]}
     */
    public Conv2d(WeightLoader loader, String prefix, int inChannels, int outChannels, int kernel, int stride,
                  int padding) {
        NDArray loadedWeight = loader.load(prefix + ".weight", outChannels, inChannels, kernel, kernel);
        NDArray loadedBias = loader.load(prefix + ".bias", outChannels);
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
        this.bf16 = Bf16Kernels.forLoader(loader, loadedWeight);
        int padded = (outChannels + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK * CHANNEL_BLOCK;
        NDArray padWeight = null;
        NDArray padBias = null;
        if (padded != outChannels) {
            NDManager manager = loadedWeight.getManager();
            padWeight = loadedWeight.concat(manager.zeros(new Shape(padded - outChannels, inChannels, kernel, kernel),
                    loadedWeight.getDataType()), 0);
            padBias = loadedBias.concat(manager.zeros(new Shape(padded - outChannels), loadedBias.getDataType()), 0);
        }
        if (bf16 != null) {
            this.weight = bf16.held(loadedWeight);
            this.bias = bf16.held(loadedBias);
            this.paddedWeight = padWeight == null ? null : bf16.held(padWeight);
            this.paddedBias = padBias == null ? null : bf16.held(padBias);
        } else {
            this.weight = loadedWeight;
            this.bias = loadedBias;
            this.paddedWeight = padWeight;
            this.paddedBias = padBias;
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
            out = convolve(x, paddedWeight, paddedBias).get(realChannels);
        } else {
            out = convolve(x, weight, bias);
        }
        // out elements x (in x kernel x kernel)
        Shape kernel = weight.getShape();
        Arithmetic.multiplyAdds(out.getShape().size() * kernel.get(1) * kernel.get(2) * kernel.get(3));
        return out;
    }

    private NDArray convolve(NDArray x, NDArray filters, NDArray biases) {
        if (bf16 != null) {
            return bf16.conv2d(x, filters, biases, stride.get(0), padding.get(0));
        }
        return ai.djl.nn.convolutional.Conv2d.conv2d(x, filters, biases, stride, padding, NO_DILATION, 1)
                .singletonOrThrow();
    }
}
