package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.nn.Upsample2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/** diffusers {@code UpBlock2D}: skip concatenation and resnets without attention, then an upsampler. */
final class UpBlock2D implements UNetUpBlock {

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final Upsample2D upsampler;

    UpBlock2D(WeightLoader loader, int index, int inChannels, int outChannels, int prevOutputChannels, int layers,
              boolean addUpsample, UNet2DConditionConfig config) {
        String prefix = "up_blocks." + index;
        for (int i = 0; i < layers; i++) {
            int skipChannels = i == layers - 1 ? inChannels : outChannels;
            int resnetIn = i == 0 ? prevOutputChannels : outChannels;
            resnets.add(new ResnetBlock2D(loader, prefix + ".resnets." + i, resnetIn + skipChannels, outChannels,
                    config.timeEmbedDim(), config.normNumGroups(), config.normEps(), 1.0));
        }
        this.upsampler = addUpsample ? new Upsample2D(loader, prefix + ".upsamplers.0", outChannels) : null;
    }

    @Override
    public int resnetCount() {
        return resnets.size();
    }

    @Override
    public NDArray forward(NDArray hidden, List<NDArray> residuals, NDArray temb, NDArray context,
                           AttentionRecorder recorder, long[] upsampleSize) {
        NDArray x = hidden;
        for (ResnetBlock2D resnet : resnets) {
            NDArray skip = residuals.remove(residuals.size() - 1);
            x = resnet.forward(NDArrays.concat(new NDList(x, skip), 1), temb);
        }
        return upsampler == null ? x : upsampler.forward(x, upsampleSize);
    }
}
