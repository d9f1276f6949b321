package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.suppress.djl.weights.WeightLoader;

/** {@code torch.nn.Conv2d} with a square kernel, equal stride and padding on both axes, and a bias. */
public final class Conv2d {

    private static final Shape NO_DILATION = new Shape(1, 1);

    private final NDArray weight;
    private final NDArray bias;
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
    }

    /**
     * @param x {@code [batch, in, h, w]}; not modified
     * @return {@code [batch, out, h', w']} in {@code x}'s manager
     */
    public NDArray forward(NDArray x) {
        NDArray out = ai.djl.nn.convolutional.Conv2d.conv2d(x, weight, bias, stride, padding, NO_DILATION, 1)
                .singletonOrThrow();
        // out elements x (in x kernel x kernel)
        Shape kernel = weight.getShape();
        Arithmetic.multiplyAdds(out.getShape().size() * kernel.get(1) * kernel.get(2) * kernel.get(3));
        return out;
    }
}
