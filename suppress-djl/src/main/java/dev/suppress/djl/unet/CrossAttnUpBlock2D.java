package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.nn.Upsample2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code CrossAttnUpBlock2D}: for each resnet, concatenate the last skip connection on the channel axis,
 * resnet, transformer; then an upsampler.
 */
final class CrossAttnUpBlock2D implements UNetUpBlock {

    private final List<ResnetBlock2D> resnets = new ArrayList<>();
    private final List<Transformer2DModel> attentions = new ArrayList<>();
    private final Upsample2D upsampler;

    /**
     * @param index              the index of the block in {@code up_blocks}
     * @param downsampleFactor   how much smaller than the latent this block's feature map is
     * @param inChannels         diffusers' {@code in_channels}: the skip width of the last resnet
     * @param prevOutputChannels the width coming from the block below
     */
    CrossAttnUpBlock2D(WeightLoader loader, AttentionLayerRegistry registry, int index, int downsampleFactor,
                       int inChannels, int outChannels, int prevOutputChannels, int layers, int heads,
                       int transformerLayers, boolean addUpsample, UNet2DConditionConfig config) {
        String prefix = "up_blocks." + index;
        for (int i = 0; i < layers; i++) {
            int skipChannels = i == layers - 1 ? inChannels : outChannels;
            int resnetIn = i == 0 ? prevOutputChannels : outChannels;
            resnets.add(new ResnetBlock2D(loader, prefix + ".resnets." + i, resnetIn + skipChannels, outChannels,
                    config.timeEmbedDim(), config.normNumGroups(), config.normEps(), 1.0));
            attentions.add(new Transformer2DModel(loader, registry, prefix + ".attentions." + i, UNetPlace.UP,
                    downsampleFactor, outChannels, heads, transformerLayers, config));
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
        for (int i = 0; i < resnets.size(); i++) {
            NDArray skip = residuals.remove(residuals.size() - 1);
            x = resnets.get(i).forward(NDArrays.concat(new NDList(x, skip), 1), temb);
            x = attentions.get(i).forward(x, context, recorder);
            if (recorder.done()) {
                return x;
            }
        }
        return upsampler == null ? x : upsampler.forward(x, upsampleSize);
    }
}
