package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code ResnetBlock2D} (resnet.py) with {@code time_embedding_norm="default"}, SiLU, no up/down
 * sampling: {@code (shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb)))))) / scale}.
 */
public final class ResnetBlock2D {

    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final NDArray outputScaleFactor;
    private final int outChannels;

    /**
     * @param prefix            the module key, e.g. {@code down_blocks.0.resnets.1}
     * @param timeEmbedChannels width of the time embedding, or 0 for none (the VAE)
     * @param outputScaleFactor the divisor of the output (1 in Stable Diffusion)
     */
    public ResnetBlock2D(WeightLoader loader, String prefix, int inChannels, int outChannels, int timeEmbedChannels,
                         int groups, double eps, double outputScaleFactor) {
        this.norm1 = new GroupNorm(loader, prefix + ".norm1", groups, inChannels, eps);
        this.conv1 = new Conv2d(loader, prefix + ".conv1", inChannels, outChannels, 3, 1, 1);
        this.timeEmbProj = timeEmbedChannels > 0
                ? new Linear(loader, prefix + ".time_emb_proj", timeEmbedChannels, outChannels, true) : null;
        this.norm2 = new GroupNorm(loader, prefix + ".norm2", groups, outChannels, eps);
        this.conv2 = new Conv2d(loader, prefix + ".conv2", outChannels, outChannels, 3, 1, 1);
        // diffusers: use_in_shortcut defaults to in_channels != out_channels, a 1x1 convolution
        this.convShortcut = inChannels != outChannels
                ? new Conv2d(loader, prefix + ".conv_shortcut", inChannels, outChannels, 1, 1, 0) : null;
        this.outputScaleFactor = outputScaleFactor == 1.0 ? null : loader.constant(outputScaleFactor);
        this.outChannels = outChannels;
    }

    /**
     * @param x    {@code [batch, in, h, w]}; not modified
     * @param temb the time embedding {@code [batch or 1, timeEmbedChannels]}, or {@code null} without one
     * @return {@code [batch, out, h, w]}
     */
    public NDArray forward(NDArray x, NDArray temb) {
        // each activation is freed as soon as the next one is computed: at the VAE's top level one is 512x512 by
        // 128-256 channels, and holding the block's seven at once was most of a decode's memory
        return Intermediates.freedAfter(x, input -> {
            NDArray hidden = Intermediates.then(Intermediates.then(norm1.forward(input), Activations::silu),
                    conv1::forward);
            if (timeEmbProj != null) {
                NDArray projected = timeEmbProj.forward(Activations.silu(temb));
                hidden = Intermediates.then(hidden,
                        h -> h.add(projected.reshape(projected.getShape().get(0), outChannels, 1, 1)));
            }
            hidden = Intermediates.then(Intermediates.then(Intermediates.then(hidden, norm2::forward),
                    Activations::silu), conv2::forward);
            NDArray shortcut = convShortcut == null ? input : convShortcut.forward(input);
            NDArray out = Intermediates.then(hidden, shortcut::add);
            if (shortcut != input) {
                shortcut.close();
            }
            return outputScaleFactor == null ? out : Intermediates.then(out, o -> o.div(outputScaleFactor));
        });
    }
}
