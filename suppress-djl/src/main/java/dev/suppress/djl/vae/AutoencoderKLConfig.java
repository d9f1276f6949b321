package dev.suppress.djl.vae;

import dev.suppress.djl.weights.ConfigJson;

import java.util.List;

/**
 * The fields of {@code vae/config.json} that shape diffusers' {@code AutoencoderKL} (v0.21.4).
 *
 * @param inChannels       image channels (3)
 * @param outChannels      decoded image channels (3)
 * @param blockOutChannels channels per level
 * @param layersPerBlock   resnets per encoder block (decoder blocks have one more)
 * @param latentChannels   latent channels (4)
 * @param normNumGroups    GroupNorm groups
 * @param scalingFactor    the latent scale ({@code scaling_factor}, 0.18215 for SD 1.x/2.x)
 */
record AutoencoderKLConfig(int inChannels, int outChannels, List<Integer> blockOutChannels, int layersPerBlock,
                           int latentChannels, int normNumGroups, double scalingFactor) {

    static final String DOWN_ENCODER = "DownEncoderBlock2D";
    static final String UP_DECODER = "UpDecoderBlock2D";

    /** The SD 1.x value diffusers uses when the config has none. */
    static final double DEFAULT_SCALING_FACTOR = 0.18215;

    AutoencoderKLConfig {
        blockOutChannels = List.copyOf(blockOutChannels);
    }

    /** The number of levels. */
    int levels() {
        return blockOutChannels.size();
    }

    /** How much smaller the latent is than the image: {@code 2^(levels-1)} (8 for SD). */
    int downsampleFactor() {
        return 1 << (levels() - 1);
    }

    /**
     * Parses and validates a VAE configuration.
     *
     * @throws dev.suppress.core.io.ModelFormatException naming the first unsupported or inconsistent field
     */
    static AutoencoderKLConfig read(ConfigJson json) {
        List<Integer> channels = json.dimensions("block_out_channels");
        List<String> down = json.stringList("down_block_types", List.of(DOWN_ENCODER));
        List<String> up = json.stringList("up_block_types", List.of(UP_DECODER));
        checkTypes(json, "down_block_types", down, DOWN_ENCODER, channels.size());
        checkTypes(json, "up_block_types", up, UP_DECODER, channels.size());
        json.requireAbsentOr("act_fn", "\"silu\"");
        json.requireAbsentOr("mid_block_add_attention", "true");
        json.requireAbsentOr("use_quant_conv", "true");
        json.requireAbsentOr("use_post_quant_conv", "true");
        json.requireAbsentOr("shift_factor", null);
        int groups = json.intValue("norm_num_groups", 32);
        for (int channel : channels) {
            if (groups < 1 || channel % groups != 0) {
                throw json.error("block_out_channels " + channels + " are not all multiples of norm_num_groups "
                        + groups);
            }
        }
        int layers = json.dimension("layers_per_block", 1);
        if (layers < 1) {
            throw json.error("layers_per_block must be positive, got " + layers);
        }
        double scaling = json.doubleValue("scaling_factor", DEFAULT_SCALING_FACTOR);
        if (!(scaling > 0)) {
            throw json.error("scaling_factor must be positive, got " + scaling);
        }
        return new AutoencoderKLConfig(json.dimension("in_channels", 3), json.dimension("out_channels", 3), channels,
                layers, json.dimension("latent_channels", 4), groups, scaling);
    }

    private static void checkTypes(ConfigJson json, String field, List<String> types, String expected, int levels) {
        if (types.size() != levels) {
            throw json.error(field + " has " + types.size() + " entries but block_out_channels has " + levels);
        }
        for (String type : types) {
            if (!type.equals(expected)) {
                throw json.error("Unsupported " + field + " entry '" + type + "': expected " + expected);
            }
        }
    }
}
