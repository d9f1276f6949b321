package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.djl.nn.Downsample2D;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/** diffusers {@code CrossAttnDownBlock2D} (unet_2d_blocks.py): (resnet, transformer) pairs, then a downsampler. */
final class CrossAttnDownBlock2D implements UNetDownBlock {

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Downsample2D downsampler;

    /** @param level the index of the block in {@code down_blocks}; its feature map is {@code 2^level} times smaller */
    CrossAttnDownBlock2D(WeightLoader loader, AttentionLayerRegistry registry, int level, int inChannels,
                         int outChannels, boolean addDownsample, UNet2DConditionConfig config) {
        String prefix = "down_blocks." + level;
        for (int i = 0; i < config.layersPerBlock().get(level); i++) {
            resnets.add(new ResnetBlock2D(loader, prefix + ".resnets." + i, i == 0 ? inChannels : outChannels,
                    outChannels, config.timeEmbedDim(), config.normNumGroups(), config.normEps(), 1.0));
            attentions.add(new Transformer2DModel(loader, registry, prefix + ".attentions." + i, UNetPlace.DOWN,
                    1 << level, outChannels, config.attentionHeads().get(level),
                    config.transformerLayersPerBlock().get(level), config));
        }
        this.downsampler = addDownsample ? new Downsample2D(loader, prefix + ".downsamplers.0", outChannels,
                config.downsamplePadding()) : null;
    }

    @Override
    public NDArray forward(NDArray hidden, NDArray temb, NDArray context, AttentionRecorder recorder,
                           List<NDArray> residuals) {
        NDArray x = hidden;
        for (int i = 0; i < resnets.size(); i++) {
            x = attentions.get(i).forward(resnets.get(i).forward(x, temb), context, recorder);
            if (recorder.done()) {
                return x;
            }
            residuals.add(x);
        }
        if (downsampler != null) {
            x = downsampler.forward(x);
            residuals.add(x);
        }
        return x;
    }
}
