package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Downsample2D;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/** diffusers {@code DownBlock2D}: resnets without attention, then a downsampler. */
final class DownBlock2D implements UNetDownBlock {

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Downsample2D downsampler;

    DownBlock2D(WeightLoader loader, int level, int inChannels, int outChannels, boolean addDownsample,
                UNet2DConditionConfig config) {
        String prefix = "down_blocks." + level;
        for (int i = 0; i < config.layersPerBlock().get(level); i++) {
            resnets.add(new ResnetBlock2D(loader, prefix + ".resnets." + i, i == 0 ? inChannels : outChannels,
                    outChannels, config.timeEmbedDim(), config.normNumGroups(), config.normEps(), 1.0));
        }
        this.downsampler = addDownsample ? new Downsample2D(loader, prefix + ".downsamplers.0", outChannels,
                config.downsamplePadding()) : null;
    }

    @Override
    public NDArray forward(NDArray hidden, NDArray temb, NDArray context, AttentionRecorder recorder,
                           List<NDArray> residuals) {
        NDArray x = hidden;
        for (ResnetBlock2D resnet : resnets) {
            x = resnet.forward(x, temb);
            residuals.add(x);
        }
        if (downsampler != null) {
            x = downsampler.forward(x);
            residuals.add(x);
        }
        return x;
    }
}
