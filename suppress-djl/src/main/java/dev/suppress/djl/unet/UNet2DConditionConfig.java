package dev.suppress.djl.unet;

import dev.suppress.djl.weights.ConfigJson;

import java.util.List;

/**
 * The fields of {@code unet/config.json} that shape diffusers' {@code UNet2DConditionModel} (v0.21.4), for the
 * options Stable Diffusion 1.x, 2.x and SDXL use. Every option that would change the computation but is not
 * implemented (class embeddings, addition embeddings other than SDXL's {@code text_time}, other block types,
 * only-cross-attention, ...) is refused by name when read.
 *
 * @param inChannels                latent channels in (4)
 * @param outChannels               channels out (4)
 * @param sampleSize                the default latent side
 * @param centerInputSample         map the input {@code x} to {@code 2x - 1} first
 * @param flipSinToCos              the time embedding puts cosines first
 * @param freqShift                 the time embedding's {@code downscale_freq_shift}
 * @param downBlockTypes            {@code CrossAttnDownBlock2D} or {@code DownBlock2D} per level
 * @param upBlockTypes              {@code CrossAttnUpBlock2D} or {@code UpBlock2D} per level
 * @param blockOutChannels          channels per level
 * @param layersPerBlock            resnets per down block (up blocks have one more)
 * @param downsamplePadding         padding of the downsampling convolutions
 * @param midBlockScaleFactor       output divisor of the mid block's resnets
 * @param normNumGroups             GroupNorm groups
 * @param normEps                   GroupNorm epsilon of the resnets and of the output norm
 * @param crossAttentionDim         context width M
 * @param transformerLayersPerBlock BasicTransformerBlocks per Transformer2DModel, per down level
 * @param attentionHeads            heads per down level; diffusers 0.21.4 takes {@code num_attention_heads} and,
 *                                  when it is null, {@code attention_head_dim} (its naming bug: SD configs put the
 *                                  head count in {@code attention_head_dim})
 * @param useLinearProjection       proj_in/proj_out are Linear (SD 2.x) instead of 1x1 convolutions
 * @param upcastAttention           diffusers computes attention scores in float32; a no-op here, where everything
 *                                  is float32
 * @param convInKernel              kernel of conv_in
 * @param convOutKernel             kernel of conv_out
 * @param additionTimeEmbedDim      {@code addition_time_embed_dim} of {@code addition_embed_type: "text_time"}
 *                                  (SDXL: 256), the sinusoid width of each {@code time_ids} entry; 0 without an
 *                                  addition embedding
 * @param projectionClassEmbeddingsInputDim the input width of {@code add_embedding} with {@code text_time}
 *                                  (SDXL: 2816 = 1280 pooled text features + 6 time ids x 256); 0 without one
 */
record UNet2DConditionConfig(int inChannels, int outChannels, int sampleSize, boolean centerInputSample,
                             boolean flipSinToCos, int freqShift, List<String> downBlockTypes,
                             List<String> upBlockTypes, List<Integer> blockOutChannels,
                             List<Integer> layersPerBlock, int downsamplePadding, double midBlockScaleFactor,
                             int normNumGroups, double normEps, int crossAttentionDim,
                             List<Integer> transformerLayersPerBlock, List<Integer> attentionHeads,
                             boolean useLinearProjection, boolean upcastAttention, int convInKernel,
                             int convOutKernel, int additionTimeEmbedDim, int projectionClassEmbeddingsInputDim) {

    static final String CROSS_ATTN_DOWN = "CrossAttnDownBlock2D";
    static final String DOWN = "DownBlock2D";
    static final String CROSS_ATTN_UP = "CrossAttnUpBlock2D";
    static final String UP = "UpBlock2D";
    static final String MID = "UNetMidBlock2DCrossAttn";
    /** The one {@code addition_embed_type} implemented: SDXL's pooled text embedding plus size and crop ids. */
    static final String TEXT_TIME = "text_time";

    UNet2DConditionConfig {
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        blockOutChannels = List.copyOf(blockOutChannels);
        layersPerBlock = List.copyOf(layersPerBlock);
        transformerLayersPerBlock = List.copyOf(transformerLayersPerBlock);
        attentionHeads = List.copyOf(attentionHeads);
    }

    /** The number of levels (down blocks). */
    int levels() {
        return downBlockTypes.size();
    }

    /** True with {@code addition_embed_type: "text_time"} (SDXL): the forward pass needs text embeds and time ids. */
    boolean hasTextTimeEmbedding() {
        return additionTimeEmbedDim > 0;
    }

    /** Width of the time embedding: {@code 4 * block_out_channels[0]}. */
    int timeEmbedDim() {
        return 4 * blockOutChannels.get(0);
    }

    /**
     * Parses and validates a UNet configuration.
     *
     * @throws dev.suppress.core.io.ModelFormatException naming the first unsupported or inconsistent field
     */
    static UNet2DConditionConfig read(ConfigJson json) {
        List<String> down = json.stringList("down_block_types",
                List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN));
        List<String> up = json.stringList("up_block_types", List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP));
        int levels = down.size();
        for (String type : down) {
            if (!type.equals(CROSS_ATTN_DOWN) && !type.equals(DOWN)) {
                throw json.error("Unsupported down_block_types entry '" + type + "': expected " + CROSS_ATTN_DOWN
                        + " or " + DOWN);
            }
        }
        for (String type : up) {
            if (!type.equals(CROSS_ATTN_UP) && !type.equals(UP)) {
                throw json.error("Unsupported up_block_types entry '" + type + "': expected " + CROSS_ATTN_UP
                        + " or " + UP);
            }
        }
        if (levels == 0 || up.size() != levels) {
            throw json.error("down_block_types " + down + " and up_block_types " + up
                    + " must be non-empty and of the same length");
        }
        if (json.isPresentNull("mid_block_type")) {
            throw json.error("Unsupported mid_block_type = null (no mid block): expected " + MID);
        }
        String mid = json.stringValue("mid_block_type", MID);
        if (!mid.equals(MID)) {
            throw json.error("Unsupported mid_block_type '" + mid + "': expected " + MID);
        }
        rejectUnsupported(json);

        List<Integer> channels = json.dimensions("block_out_channels");
        if (channels.size() != levels) {
            throw json.error("block_out_channels " + channels + " has " + channels.size() + " entries but there are "
                    + levels + " down blocks");
        }
        int groups = json.intValue("norm_num_groups", 32);
        for (int channel : channels) {
            if (groups < 1 || channel % groups != 0) {
                throw json.error("block_out_channels " + channels + " are not all multiples of norm_num_groups "
                        + groups);
            }
        }
        // diffusers 0.21.4: num_attention_heads = num_attention_heads or attention_head_dim
        String headsField = json.isAbsent("num_attention_heads") ? "attention_head_dim" : "num_attention_heads";
        List<Integer> heads = json.intPerBlock(headsField, levels, 8);
        for (int i = 0; i < levels; i++) {
            if (heads.get(i) < 1 || heads.get(i) > channels.get(i)) {
                throw json.error(headsField + " " + heads + ": level " + i + " has " + heads.get(i)
                        + " heads for " + channels.get(i) + " channels");
            }
        }
        List<Integer> crossDims = json.dimensionsPerBlock("cross_attention_dim", levels, 1280);
        for (int dim : crossDims) {
            if (dim != crossDims.get(0)) {
                throw json.error("Unsupported cross_attention_dim " + crossDims
                        + ": one context width for every block is implemented");
            }
        }
        int convIn = json.intValue("conv_in_kernel", 3);
        int convOut = json.intValue("conv_out_kernel", 3);
        if (convIn < 1 || convOut < 1 || convIn % 2 == 0 || convOut % 2 == 0) {
            throw json.error("conv_in_kernel " + convIn + " and conv_out_kernel " + convOut + " must be odd and positive");
        }
        int additionTimeEmbedDim = 0;
        int projectionInputDim = 0;
        String additionType = json.stringValue("addition_embed_type", null);
        if (additionType != null) {
            if (!additionType.equals(TEXT_TIME)) {
                throw json.error("Unsupported addition_embed_type = \"" + additionType + "\": this backend implements "
                        + "only addition_embed_type = null (Stable Diffusion 1.x/2.x) or \"" + TEXT_TIME + "\" (SDXL)");
            }
            // diffusers builds Timesteps(addition_time_embed_dim) and TimestepEmbedding(projection_..._input_dim)
            if (json.isAbsent("addition_time_embed_dim") || json.isAbsent("projection_class_embeddings_input_dim")) {
                throw json.error("addition_embed_type = \"" + TEXT_TIME + "\" needs addition_time_embed_dim and "
                        + "projection_class_embeddings_input_dim (SDXL base: 256 and 2816)");
            }
            additionTimeEmbedDim = json.dimension("addition_time_embed_dim", 0);
            projectionInputDim = json.dimension("projection_class_embeddings_input_dim", 0);
            if (projectionInputDim <= additionTimeEmbedDim) {
                throw json.error("projection_class_embeddings_input_dim " + projectionInputDim + " leaves no room for "
                        + "the pooled text embedding beside time ids of addition_time_embed_dim "
                        + additionTimeEmbedDim + " each");
            }
        }
        return new UNet2DConditionConfig(json.dimension("in_channels", 4), json.dimension("out_channels", 4),
                json.dimension("sample_size", 64), json.booleanValue("center_input_sample", false),
                json.booleanValue("flip_sin_to_cos", true), json.intValue("freq_shift", 0), down, up, channels,
                json.dimensionsPerBlock("layers_per_block", levels, 2), json.intValue("downsample_padding", 1),
                json.doubleValue("mid_block_scale_factor", 1.0), groups, json.doubleValue("norm_eps", 1e-5),
                crossDims.get(0), json.dimensionsPerBlock("transformer_layers_per_block", levels, 1), heads,
                json.booleanValue("use_linear_projection", false), json.booleanValue("upcast_attention", false),
                convIn, convOut, additionTimeEmbedDim, projectionInputDim);
    }

    /** Options of UNet2DConditionModel that change the computation and are not implemented here. */
    private static void rejectUnsupported(ConfigJson json) {
        json.requireAbsentOr("act_fn", "\"silu\"");
        json.requireAbsentOr("time_embedding_type", "\"positional\"");
        json.requireAbsentOr("time_embedding_dim", null);
        json.requireAbsentOr("time_embedding_act_fn", null);
        json.requireAbsentOr("timestep_post_act", null);
        json.requireAbsentOr("time_cond_proj_dim", null);
        json.requireAbsentOr("class_embed_type", null);
        json.requireAbsentOr("num_class_embeds", null);
        json.requireAbsentOr("class_embeddings_concat", "false");
        json.requireAbsentOr("encoder_hid_dim", null);
        json.requireAbsentOr("encoder_hid_dim_type", null);
        json.requireAbsentOr("dual_cross_attention", "false");
        json.requireAbsentOr("mid_block_only_cross_attention", "false");
        json.requireAbsentOr("cross_attention_norm", null);
        json.requireAbsentOr("attention_type", "\"default\"");
        json.requireAbsentOr("resnet_time_scale_shift", "\"default\"");
        json.requireAbsentOr("resnet_skip_time_act", "false");
        if (json.doubleValue("resnet_out_scale_factor", 1.0) != 1.0) {
            throw json.error("Unsupported resnet_out_scale_factor = "
                    + json.doubleValue("resnet_out_scale_factor", 1.0) + ": only 1.0 is implemented");
        }
        if (json.isPresentNull("norm_num_groups")) {
            throw json.error("Unsupported norm_num_groups = null (no output norm): expected a group count");
        }
        json.requireFalseOrAllFalse("only_cross_attention");
    }
}
