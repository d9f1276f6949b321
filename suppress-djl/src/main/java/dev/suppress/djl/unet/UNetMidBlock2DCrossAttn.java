package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/** diffusers {@code UNetMidBlock2DCrossAttn} with one layer: resnet, transformer, resnet. */
final class UNetMidBlock2DCrossAttn {

    private static final String PREFIX = "mid_block";

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();

    UNetMidBlock2DCrossAttn(WeightLoader loader, AttentionLayerRegistry registry, int downsampleFactor,
                            UNet2DConditionConfig config) {
        int last = config.levels() - 1;
        int channels = config.blockOutChannels().get(last);
        resnets.add(new ResnetBlock2D(loader, PREFIX + ".resnets.0", channels, channels, config.timeEmbedDim(),
                config.normNumGroups(), config.normEps(), config.midBlockScaleFactor()));
        attentions.add(new Transformer2DModel(loader, registry, PREFIX + ".attentions.0", UNetPlace.MID,
                downsampleFactor, channels, config.attentionHeads().get(last),
                config.transformerLayersPerBlock().get(last), config));
        resnets.add(new ResnetBlock2D(loader, PREFIX + ".resnets.1", channels, channels, config.timeEmbedDim(),
                config.normNumGroups(), config.normEps(), config.midBlockScaleFactor()));
    }

    /** @return the block's output; unspecified once the recorder is done */
    NDArray forward(NDArray hidden, NDArray temb, NDArray context, AttentionRecorder recorder) {
        NDArray x = resnets.get(0).forward(hidden, temb);
        for (int i = 0; i < attentions.size(); i++) {
            x = attentions.get(i).forward(x, context, recorder);
            if (recorder.done()) {
                return x;
            }
            x = resnets.get(i + 1).forward(x, temb);
        }
        return x;
    }
}
