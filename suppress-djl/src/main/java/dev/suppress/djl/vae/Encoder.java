package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.Downsample2D;
import dev.suppress.djl.nn.GroupNorm;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.ResnetBlock2D;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code Encoder} (vae.py) with {@code double_z=True}: {@code conv_in}, {@code DownEncoderBlock2D}s (resnets,
 * then a stride-2 convolution after right/bottom zero padding), the mid block, GroupNorm, SiLU, {@code conv_out} to
 * the posterior's {@code 2 * latent} moments.
 */
final class Encoder {

    /** diffusers builds every VAE GroupNorm with this epsilon. */
    static final double EPS = 1e-6;

    private static final String PREFIX = "encoder";

    private final Conv2d convIn;
    private final List<List<ResnetBlock2D>> downBlocks = new ArrayList<>();
    private final List<Downsample2D> downsamplers = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Encoder(WeightLoader loader, AutoencoderKLConfig config) {
        List<Integer> channels = config.blockOutChannels();
        int groups = config.normNumGroups();
        this.convIn = new Conv2d(loader, PREFIX + ".conv_in", config.inChannels(), channels.get(0), 3, 1, 1);
        int outputChannel = channels.get(0);
        for (int level = 0; level < config.levels(); level++) {
            int inputChannel = outputChannel;
            outputChannel = channels.get(level);
            String block = PREFIX + ".down_blocks." + level;
            List<ResnetBlock2D> resnets = new ArrayList<>();
            for (int i = 0; i < config.layersPerBlock(); i++) {
                resnets.add(new ResnetBlock2D(loader, block + ".resnets." + i, i == 0 ? inputChannel : outputChannel,
                        outputChannel, 0, groups, EPS, 1.0));
            }
            downBlocks.add(resnets);
            // diffusers: downsample_padding=0 in the VAE encoder
            downsamplers.add(level < config.levels() - 1
                    ? new Downsample2D(loader, block + ".downsamplers.0", outputChannel, 0) : null);
        }
        int last = channels.get(config.levels() - 1);
        this.midBlock = new UNetMidBlock2D(loader, PREFIX + ".mid_block", last, groups);
        this.convNormOut = new GroupNorm(loader, PREFIX + ".conv_norm_out", groups, last, EPS);
        this.convOut = new Conv2d(loader, PREFIX + ".conv_out", last, 2 * config.latentChannels(), 3, 1, 1);
    }

    /**
     * @param image {@code [batch, inChannels, H, W]}
     * @return the moments {@code [batch, 2 * latent, H/f, W/f]} (mean, then log-variance), before {@code quant_conv}
     */
    NDArray forward(NDArray image) {
        // each block frees its inner activations when it returns
        NDArray x = convIn.forward(image);
        for (int level = 0; level < downBlocks.size(); level++) {
            int index = level;
            x = Intermediates.freedAfter(x, input -> {
                NDArray hidden = input;
                for (ResnetBlock2D resnet : downBlocks.get(index)) {
                    hidden = resnet.forward(hidden, null);
                }
                return downsamplers.get(index) == null ? hidden : downsamplers.get(index).forward(hidden);
            });
        }
        return Intermediates.freedAfter(x,
                input -> convOut.forward(Activations.silu(convNormOut.forward(midBlock.forward(input)))));
    }
}
