package dev.suppress.djl.singlefile;

import dev.suppress.core.io.ModelFormatException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The names of the original LDM (CompVis / Stability) checkpoint layout mapped to the diffusers/transformers names
 * that our modules load, following diffusers' {@code loaders/single_file_utils.py}: {@code convert_ldm_unet_checkpoint},
 * {@code convert_ldm_vae_checkpoint}, {@code convert_ldm_clip_checkpoint} and {@code convert_open_clip_checkpoint}.
 * Only names, shapes and byte spans are computed; no tensor is read.
 *
 * <p>Each mapping goes from the checkpoint's keys (under the part's prefix) to diffusers keys, as diffusers does;
 * a key under the prefix that no rule maps is returned in {@link PartMapping#unmapped()} so that loading reports it
 * by its LDM name rather than silently dropping it.
 */
final class LdmKeyMapping {

    /** {@code LDM_UNET_KEY}. */
    static final String UNET_PREFIX = "model.diffusion_model.";
    /** {@code LDM_VAE_KEYS}, in diffusers' order of preference (the last one present wins there as here). */
    static final List<String> VAE_PREFIXES = List.of("first_stage_model.", "vae.");
    /** SD 1.x's OpenAI CLIP ({@code LDM_CLIP_PREFIX_TO_REMOVE[0]}). */
    static final String CLIP_PREFIX = "cond_stage_model.transformer.";
    /** SD 2.x's OpenCLIP ({@code convert_open_clip_checkpoint}'s default prefix). */
    static final String OPEN_CLIP_PREFIX = "cond_stage_model.model.";
    /** SDXL's first text encoder, OpenAI CLIP ViT-L/14 ({@code LDM_CLIP_PREFIX_TO_REMOVE[1]}). */
    static final String SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer.";
    /** SDXL's second text encoder, OpenCLIP ViT-bigG/14 ({@code create_diffusers_clip_model_from_ldm}'s prefix). */
    static final String SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model.";

    private static final Pattern INPUT_BLOCK = Pattern.compile("input_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern MIDDLE_BLOCK = Pattern.compile("middle_block\\.(\\d+)\\.(.+)");
    private static final Pattern OUTPUT_BLOCK = Pattern.compile("output_blocks\\.(\\d+)\\.(\\d+)\\.(.+)");
    private static final Pattern VAE_DOWN = Pattern.compile("encoder\\.down\\.(\\d+)\\.(block\\.(\\d+)|downsample)\\.(.+)");
    private static final Pattern VAE_UP = Pattern.compile("decoder\\.up\\.(\\d+)\\.(block\\.(\\d+)|upsample)\\.(.+)");
    private static final Pattern VAE_MID = Pattern.compile("(encoder|decoder)\\.mid\\.(block_(\\d)|attn_1)\\.(.+)");
    private static final Pattern RESBLOCK = Pattern.compile("transformer\\.resblocks\\.(\\d+)\\.(.+)");

    /** {@code DIFFUSERS_TO_LDM_MAPPING["unet"]["layers"]} and {@code ["addition_embed_type"]}, LDM name first. */
    private static final Map<String, String> UNET_LAYERS = Map.ofEntries(
            Map.entry("time_embed.0.weight", "time_embedding.linear_1.weight"),
            Map.entry("time_embed.0.bias", "time_embedding.linear_1.bias"),
            Map.entry("time_embed.2.weight", "time_embedding.linear_2.weight"),
            Map.entry("time_embed.2.bias", "time_embedding.linear_2.bias"),
            Map.entry("input_blocks.0.0.weight", "conv_in.weight"),
            Map.entry("input_blocks.0.0.bias", "conv_in.bias"),
            Map.entry("out.0.weight", "conv_norm_out.weight"),
            Map.entry("out.0.bias", "conv_norm_out.bias"),
            Map.entry("out.2.weight", "conv_out.weight"),
            Map.entry("out.2.bias", "conv_out.bias"),
            Map.entry("label_emb.0.0.weight", "add_embedding.linear_1.weight"),
            Map.entry("label_emb.0.0.bias", "add_embedding.linear_1.bias"),
            Map.entry("label_emb.0.2.weight", "add_embedding.linear_2.weight"),
            Map.entry("label_emb.0.2.bias", "add_embedding.linear_2.bias"));

    /** {@code DIFFUSERS_TO_LDM_MAPPING["vae"]}, LDM name first. */
    private static final Map<String, String> VAE_LAYERS = Map.ofEntries(
            Map.entry("encoder.conv_in.weight", "encoder.conv_in.weight"),
            Map.entry("encoder.conv_in.bias", "encoder.conv_in.bias"),
            Map.entry("encoder.conv_out.weight", "encoder.conv_out.weight"),
            Map.entry("encoder.conv_out.bias", "encoder.conv_out.bias"),
            Map.entry("encoder.norm_out.weight", "encoder.conv_norm_out.weight"),
            Map.entry("encoder.norm_out.bias", "encoder.conv_norm_out.bias"),
            Map.entry("decoder.conv_in.weight", "decoder.conv_in.weight"),
            Map.entry("decoder.conv_in.bias", "decoder.conv_in.bias"),
            Map.entry("decoder.conv_out.weight", "decoder.conv_out.weight"),
            Map.entry("decoder.conv_out.bias", "decoder.conv_out.bias"),
            Map.entry("decoder.norm_out.weight", "decoder.conv_norm_out.weight"),
            Map.entry("decoder.norm_out.bias", "decoder.conv_norm_out.bias"),
            Map.entry("quant_conv.weight", "quant_conv.weight"),
            Map.entry("quant_conv.bias", "quant_conv.bias"),
            Map.entry("post_quant_conv.weight", "post_quant_conv.weight"),
            Map.entry("post_quant_conv.bias", "post_quant_conv.bias"));

    /** {@code DIFFUSERS_TO_LDM_MAPPING["openclip"]["layers"]}, LDM name first. */
    private static final Map<String, String> OPEN_CLIP_LAYERS = Map.of(
            "positional_embedding", "text_model.embeddings.position_embedding.weight",
            "token_embedding.weight", "text_model.embeddings.token_embedding.weight",
            "ln_final.weight", "text_model.final_layer_norm.weight",
            "ln_final.bias", "text_model.final_layer_norm.bias",
            "text_projection", "text_projection.weight");

    /** Buffers and scalars under the OpenCLIP prefix that no text model parameter corresponds to. */
    private static final List<String> OPEN_CLIP_NON_PARAMETERS = List.of("logit_scale", "attn_mask");

    /**
     * One part's keys.
     *
     * @param tensors  diffusers key → where it is in the checkpoint, in the checkpoint's order
     * @param unmapped checkpoint keys under the part's prefix that no rule maps (reported when loading)
     * @param skipped  checkpoint keys under the prefix left out on purpose (a dropped last layer, a projection the
     *                 text model has no use for)
     */
    record PartMapping(Map<String, LdmTensor> tensors, List<String> unmapped, List<String> skipped) {
    }

    private LdmKeyMapping() {
    }

    /**
     * {@code convert_ldm_unet_checkpoint} (non-EMA weights: {@code model_ema.} keys are never read).
     *
     * @param file           the checkpoint (for messages)
     * @param shapes         every key of the checkpoint and its shape
     * @param layersPerBlock the UNet's {@code layers_per_block}
     */
    static PartMapping unet(Path file, Map<String, long[]> shapes, int layersPerBlock) {
        Builder out = new Builder(file, "; the UNet configuration's layers_per_block is " + layersPerBlock
                + ": a checkpoint of another shape needs its own configs (--config, or --arch)");
        int perBlock = layersPerBlock + 1;
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(UNET_PREFIX)) {
                continue;
            }
            String ldm = key.substring(UNET_PREFIX.length());
            long[] shape = entry.getValue();
            String diffusers = UNET_LAYERS.get(ldm);
            Matcher m;
            if (diffusers == null && (m = INPUT_BLOCK.matcher(ldm)).matches()) {
                int i = Integer.parseInt(m.group(1));
                int j = Integer.parseInt(m.group(2));
                String rest = m.group(3);
                int block = (i - 1) / perBlock;
                int layer = (i - 1) % perBlock;
                if (i >= 1 && j == 0 && rest.startsWith("op.")) {
                    diffusers = "down_blocks." + block + ".downsamplers.0.conv." + rest.substring(3);
                } else if (i >= 1 && j == 0) {
                    diffusers = "down_blocks." + block + ".resnets." + layer + "." + unetResnet(rest);
                } else if (i >= 1 && j == 1) {
                    diffusers = "down_blocks." + block + ".attentions." + layer + "." + rest;
                }
            } else if (diffusers == null && (m = MIDDLE_BLOCK.matcher(ldm)).matches()) {
                int j = Integer.parseInt(m.group(1));
                diffusers = j % 2 == 0 ? "mid_block.resnets." + (j / 2) + "." + unetResnet(m.group(2))
                        : "mid_block.attentions." + (j / 2) + "." + m.group(2);
            } else if (diffusers == null && (m = OUTPUT_BLOCK.matcher(ldm)).matches()) {
                int i = Integer.parseInt(m.group(1));
                int j = Integer.parseInt(m.group(2));
                String rest = m.group(3);
                int block = i / perBlock;
                int layer = i % perBlock;
                if (j == 0) {
                    diffusers = "up_blocks." + block + ".resnets." + layer + "." + unetResnet(rest);
                } else if ((j == 1 || j == 2) && rest.startsWith("conv.")) {
                    diffusers = "up_blocks." + block + ".upsamplers.0.conv." + rest.substring(5);
                } else if (j == 1) {
                    diffusers = "up_blocks." + block + ".attentions." + layer + "." + rest;
                }
            }
            out.put(key, diffusers, LdmTensor.whole(key, shape));
        }
        return out.build();
    }

    /** {@code update_unet_resnet_ldm_to_diffusers}. */
    private static String unetResnet(String rest) {
        return rest.replace("in_layers.0", "norm1")
                .replace("in_layers.2", "conv1")
                .replace("out_layers.0", "norm2")
                .replace("out_layers.3", "conv2")
                .replace("emb_layers.1", "time_emb_proj")
                .replace("skip_connection", "conv_shortcut");
    }

    /**
     * {@code convert_ldm_vae_checkpoint}, with {@code conv_attn_to_linear}: the mid-block attention's 1×1
     * convolution kernels {@code [C, C, 1, 1]} are read as linear weights {@code [C, C]} (the same bytes).
     *
     * @param levels the VAE's number of blocks ({@code len(block_out_channels)})
     */
    static PartMapping vae(Path file, Map<String, long[]> shapes, int levels) {
        String prefix = vaePrefix(shapes);
        Builder out = new Builder(file);
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            String key = entry.getKey();
            if (prefix == null || !key.startsWith(prefix)) {
                continue;
            }
            String ldm = key.substring(prefix.length());
            long[] shape = entry.getValue();
            String diffusers = VAE_LAYERS.get(ldm);
            Matcher m;
            if (diffusers == null && (m = VAE_DOWN.matcher(ldm)).matches()) {
                diffusers = m.group(3) != null
                        ? "encoder.down_blocks." + m.group(1) + ".resnets." + m.group(3) + "." + vaeResnet(m.group(4))
                        : m.group(4).startsWith("conv.") ? "encoder.down_blocks." + m.group(1)
                        + ".downsamplers.0.conv." + m.group(4).substring(5) : null;
            } else if (diffusers == null && (m = VAE_UP.matcher(ldm)).matches()) {
                int block = levels - 1 - Integer.parseInt(m.group(1));
                diffusers = block < 0 ? null : m.group(3) != null
                        ? "decoder.up_blocks." + block + ".resnets." + m.group(3) + "." + vaeResnet(m.group(4))
                        : m.group(4).startsWith("conv.") ? "decoder.up_blocks." + block + ".upsamplers.0.conv."
                        + m.group(4).substring(5) : null;
            } else if (diffusers == null && (m = VAE_MID.matcher(ldm)).matches()) {
                String half = m.group(1);
                if (m.group(3) != null) {
                    int resnet = Integer.parseInt(m.group(3)) - 1;
                    diffusers = resnet == 0 || resnet == 1
                            ? half + ".mid_block.resnets." + resnet + "." + vaeResnet(m.group(4)) : null;
                } else {
                    String attention = vaeAttention(m.group(4));
                    if (attention != null) {
                        diffusers = half + ".mid_block.attentions.0." + attention;
                        if (shape.length > 2) {
                            shape = new long[]{shape[0], shape[1]};
                        }
                    }
                }
            }
            out.put(key, diffusers, LdmTensor.whole(key, shape));
        }
        return out.build();
    }

    /** The VAE prefix the checkpoint uses ({@code convert_ldm_vae_checkpoint}: the last of the prefixes present). */
    static String vaePrefix(Map<String, long[]> shapes) {
        String found = null;
        for (String prefix : VAE_PREFIXES) {
            for (String key : shapes.keySet()) {
                if (key.startsWith(prefix)) {
                    found = prefix;
                    break;
                }
            }
        }
        return found;
    }

    private static String vaeResnet(String rest) {
        return rest.replace("nin_shortcut", "conv_shortcut");
    }

    /** {@code update_vae_attentions_ldm_to_diffusers}. */
    private static String vaeAttention(String rest) {
        return switch (rest) {
            case "norm.weight" -> "group_norm.weight";
            case "norm.bias" -> "group_norm.bias";
            case "q.weight", "q.bias", "k.weight", "k.bias", "v.weight", "v.bias" -> "to_" + rest;
            case "proj_out.weight" -> "to_out.0.weight";
            case "proj_out.bias" -> "to_out.0.bias";
            default -> null;
        };
    }

    /**
     * {@code convert_ldm_clip_checkpoint}: a transformers CLIP text model under {@code prefix} (SD 1.x's
     * {@link #CLIP_PREFIX}, SDXL's {@link #SDXL_CLIP_PREFIX}), the prefix removed. Checkpoints written by
     * transformers before 4.x lack the {@code text_model.} level; it is added.
     */
    static PartMapping clip(Path file, Map<String, long[]> shapes, String prefix) {
        Builder out = new Builder(file);
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(prefix)) {
                continue;
            }
            String rest = key.substring(prefix.length());
            String diffusers = rest.startsWith("text_model.") ? rest : "text_model." + rest;
            out.put(key, diffusers, LdmTensor.whole(key, entry.getValue()));
        }
        return out.build();
    }

    /**
     * {@code convert_open_clip_checkpoint}: an OpenCLIP text tower under {@code prefix}. The fused
     * {@code in_proj_weight}/{@code in_proj_bias} {@code [3·hidden, …]} are split row-wise into q, k and v (views of
     * the same bytes). SD 2.x's tower ({@code withProjection} false): {@code text_projection} is skipped, and so are
     * the resblocks from {@code layers} on: SD 2.x conditions on the penultimate layer, so its text encoder config
     * has one layer fewer than the checkpoint (diffusers' {@code SD_2_TEXT_ENCODER_KEYS_TO_IGNORE} lists resblock 23
     * of 24). SDXL's second encoder ({@code withProjection} true): {@code text_projection} (used as {@code x @ P}) is
     * transposed into the linear weight {@code text_projection.weight}, and every resblock is kept (diffusers'
     * keys to ignore all start with {@code cond_stage_model.model.}; SDXL's pipeline picks the penultimate hidden
     * state itself), so a resblock beyond {@code layers} is unmapped and reported.
     *
     * @param layers         the text encoder's {@code num_hidden_layers}
     * @param hidden         its {@code hidden_size}
     * @param withProjection SDXL's second encoder, a {@code CLIPTextModelWithProjection}
     */
    static PartMapping openClip(Path file, Map<String, long[]> shapes, String prefix, int layers, int hidden,
                                boolean withProjection) {
        Builder out = new Builder(file);
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(prefix)) {
                continue;
            }
            String ldm = key.substring(prefix.length());
            long[] shape = entry.getValue();
            String layer = OPEN_CLIP_LAYERS.get(ldm);
            Matcher m;
            if (ldm.equals("text_projection")) {
                if (!withProjection) {
                    out.skipped.add(key);
                } else if (shape.length != 2) {
                    out.unmapped.add(key);
                } else {
                    out.tensors.put(layer, new LdmTensor(key, new long[]{shape[1], shape[0]}, 0, -1, true));
                }
            } else if (layer != null) {
                out.put(key, layer, LdmTensor.whole(key, shape));
            } else if (OPEN_CLIP_NON_PARAMETERS.contains(ldm)) {
                out.skipped.add(key);
            } else if ((m = RESBLOCK.matcher(ldm)).matches()) {
                int index = Integer.parseInt(m.group(1));
                String rest = m.group(2);
                String base = "text_model.encoder.layers." + index + ".";
                if (index >= layers && !withProjection) {
                    out.skipped.add(key);
                } else if (index >= layers) {
                    out.unmapped.add(key);
                } else if (rest.equals("attn.in_proj_weight") || rest.equals("attn.in_proj_bias")) {
                    String kind = rest.endsWith("weight") ? "weight" : "bias";
                    if (shape.length < 1 || shape[0] != 3L * hidden) {
                        out.unmapped.add(key);
                        continue;
                    }
                    long[] third = shape.clone();
                    third[0] = hidden;
                    String[] names = {"q_proj", "k_proj", "v_proj"};
                    for (int part = 0; part < 3; part++) {
                        out.tensors.put(base + "self_attn." + names[part] + "." + kind,
                                new LdmTensor(key, third, (long) part * hidden, hidden, false));
                    }
                } else {
                    String renamed = rest.replace("ln_1", "layer_norm1")
                            .replace("ln_2", "layer_norm2")
                            .replace("mlp.c_fc", "mlp.fc1")
                            .replace("mlp.c_proj", "mlp.fc2")
                            .replace("attn.out_proj", "self_attn.out_proj");
                    out.put(key, renamed.equals(rest) ? null : base + renamed, LdmTensor.whole(key, shape));
                }
            } else {
                out.unmapped.add(key);
            }
        }
        return out.build();
    }

    /** Fails when two checkpoint keys map to one diffusers key (a malformed checkpoint). */
    private static final class Builder {
        final Map<String, LdmTensor> tensors = new LinkedHashMap<>();
        final List<String> unmapped = new ArrayList<>();
        final List<String> skipped = new ArrayList<>();
        private final Path file;

        private final String hint;

        Builder(Path file) {
            this(file, "");
        }

        Builder(Path file, String hint) {
            this.file = file;
            this.hint = hint;
        }

        void put(String ldmKey, String diffusersKey, LdmTensor tensor) {
            if (diffusersKey == null) {
                unmapped.add(ldmKey);
                return;
            }
            LdmTensor previous = tensors.put(diffusersKey, tensor);
            if (previous != null) {
                throw new ModelFormatException(file, "Checkpoint keys '" + previous.sourceKey() + "' and '"
                        + ldmKey + "' both map to '" + diffusersKey + "' " + Arrays.toString(tensor.shape()) + hint);
            }
        }

        PartMapping build() {
            return new PartMapping(tensors, List.copyOf(unmapped), List.copyOf(skipped));
        }
    }
}
