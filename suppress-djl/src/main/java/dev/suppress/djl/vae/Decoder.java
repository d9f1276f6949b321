package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.GroupNorm;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.nn.Upsample2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code Decoder} (vae.py): {@code conv_in}, the mid block, {@code UpDecoderBlock2D}s over the reversed
 * channels (resnets, then nearest x2 upsampling and a convolution), GroupNorm, SiLU, {@code conv_out}.
 */
final class Decoder {

    private static final String PREFIX = "decoder";

    private final Conv2d convIn;
    private final UNetMidBlock2D midBlock;
    private final List<List<ResnetBlock2D>> upBlocks = new ArrayList<>();
    private final List<Upsample2D> upsamplers = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Decoder(WeightLoader loader, AutoencoderKLConfig config) {
        List<Integer> channels = config.blockOutChannels();
        int levels = config.levels();
        int groups = config.normNumGroups();
        int last = channels.get(levels - 1);
        this.convIn = new Conv2d(loader, PREFIX + ".conv_in", config.latentChannels(), last, 3, 1, 1);
        this.midBlock = new UNetMidBlock2D(loader, PREFIX + ".mid_block", last, groups);
        int outputChannel = last;
        for (int index = 0; index < levels; index++) {
            int prevOutputChannel = outputChannel;
            outputChannel = channels.get(levels - 1 - index);
            String block = PREFIX + ".up_blocks." + index;
            List<ResnetBlock2D> resnets = new ArrayList<>();
            for (int i = 0; i < config.layersPerBlock() + 1; i++) {
                resnets.add(new ResnetBlock2D(loader, block + ".resnets." + i, i == 0 ? prevOutputChannel
                        : outputChannel, outputChannel, 0, groups, Encoder.EPS, 1.0));
            }
            upBlocks.add(resnets);
            upsamplers.add(index < levels - 1 ? new Upsample2D(loader, block + ".upsamplers.0", outputChannel) : null);
        }
        this.convNormOut = new GroupNorm(loader, PREFIX + ".conv_norm_out", groups, channels.get(0), Encoder.EPS);
        this.convOut = new Conv2d(loader, PREFIX + ".conv_out", channels.get(0), config.outChannels(), 3, 1, 1);
    }

    /**
     * @param latents {@code [batch, latent, h, w]} after {@code post_quant_conv}
     * @return {@code [batch, outChannels, h*f, w*f]}
     */
    NDArray forward(NDArray latents) {
        // each block frees its inner activations when it returns (they reach 512x512x128 floats at the top)
        NDArray x = Intermediates.freedAfter(latents, input -> midBlock.forward(convIn.forward(input)));
        for (int index = 0; index < upBlocks.size(); index++) {
            int level = index;
            x = Intermediates.freedAfter(x, input -> {
                // each resnet's output is freed once the next exists (the block's input stays its caller's)
                NDArray hidden = upBlocks.get(level).get(0).forward(input, null);
                for (ResnetBlock2D resnet : upBlocks.get(level).subList(1, upBlocks.get(level).size())) {
                    hidden = Intermediates.then(hidden, h -> resnet.forward(h, null));
                }
                Upsample2D upsampler = upsamplers.get(level);
                return upsampler == null ? hidden : Intermediates.then(hidden, h -> upsampler.forward(h, null));
            });
        }
        return Intermediates.freedAfter(x, input -> convOut.forward(Activations.silu(convNormOut.forward(input))));
    }
}
