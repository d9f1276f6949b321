package dev.suppress.djl;

import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Test helper: a tiny SDXL-base-shaped diffusers folder with seeded random weights, generated here (no reference
 * implementation of SDXL is among the fixtures).
 *
 * <p>Shaped as {@code stabilityai/stable-diffusion-xl-base-1.0} with small widths: {@code text_encoder} a
 * {@code CLIPTextModel} (quick_gelu, width {@link #TEXT_ENCODER_WIDTH}), {@code text_encoder_2} a
 * {@code CLIPTextModelWithProjection} (gelu, legacy {@code eos_token_id} 2, width and {@code projection_dim}
 * {@link #POOLED_WIDTH}); a three-level UNet whose first level is a {@code DownBlock2D} (no cross-attention),
 * per-level {@code transformer_layers_per_block} [1, 2, 3] and head counts in {@code attention_head_dim} [1, 2, 4],
 * linear projections, {@code cross_attention_dim} = the two widths concatenated, and
 * {@code addition_embed_type: "text_time"} with {@code addition_time_embed_dim} {@link #TIME_ID_CHANNELS} and
 * {@code projection_class_embeddings_input_dim} = pooled width + 6 time ids; the fields SDXL's config carries as
 * {@code null} ({@code num_attention_heads}, {@code upcast_attention}, {@code mid_block_only_cross_attention}) are
 * there as {@code null}. The tokenizers, scheduler and VAE are the fixture's, with {@code tokenizer_2} padding with
 * "!" and the VAE's {@code scaling_factor} 0.13025.
 *
 * <p>The parameter names and shapes are whatever the DJL model code asks for given these configurations
 * ({@code parameterShapes}). Weights: {@code N(0, 1/(3 fanIn))}, norm gains {@code 1 + N(0, 0.1²)}, biases
 * {@code N(0, 0.1²)}, each tensor from its own generator seeded by the key.
 */
public final class TinySdxlFolder {

    /** Width of {@code text_encoder}. */
    public static final int TEXT_ENCODER_WIDTH = 16;
    /** Width and {@code projection_dim} of {@code text_encoder_2}, the UNet's {@code text_embeds} width. */
    public static final int POOLED_WIDTH = 32;
    /** {@code addition_time_embed_dim}. */
    public static final int TIME_ID_CHANNELS = 8;
    /** SDXL base's six time ids. */
    public static final int TIME_IDS = 6;
    /** The UNet's latent side. */
    public static final int SAMPLE_SIZE = 16;

    private static final long SEED = 2023;

    private TinySdxlFolder() {
    }

    /** Writes the folder into {@code target} (created), from the fixture model {@code fixture}. */
    public static Path write(Path fixture, Path target) {
        try {
            Files.createDirectories(target);
            TestFolders.copyTree(fixture.resolve("tokenizer"), target.resolve("tokenizer"));
            TestFolders.copyTree(fixture.resolve("tokenizer"), target.resolve("tokenizer_2"));
            TestFolders.copyTree(fixture.resolve("scheduler"), target.resolve("scheduler"));
            TestFolders.copyTree(fixture.resolve("vae"), target.resolve("vae"));
            TestFolders.editJson(target.resolve("tokenizer_2/special_tokens_map.json"),
                    json -> json.put("pad_token", "!"));
            TestFolders.editJson(target.resolve("tokenizer_2/tokenizer_config.json"),
                    json -> json.put("pad_token", "!"));
            TestFolders.editJson(target.resolve("vae/config.json"), json -> json.put("scaling_factor", 0.13025));
            Files.writeString(target.resolve("model_index.json"), """
                    {"_class_name": "StableDiffusionXLPipeline", "force_zeros_for_empty_prompt": true,
                     "scheduler": ["diffusers", "DDIMScheduler"],
                     "text_encoder": ["transformers", "CLIPTextModel"],
                     "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
                     "tokenizer": ["transformers", "CLIPTokenizer"],
                     "tokenizer_2": ["transformers", "CLIPTokenizer"],
                     "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}
                    """);
            writeConfig(target.resolve("text_encoder"), """
                    {"architectures": ["CLIPTextModel"], "bos_token_id": 0, "eos_token_id": 2,
                     "hidden_act": "quick_gelu", "hidden_size": %d, "intermediate_size": 32,
                     "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
                     "num_attention_heads": 2, "num_hidden_layers": 2, "pad_token_id": 1, "projection_dim": 768,
                     "vocab_size": 49408}
                    """.formatted(TEXT_ENCODER_WIDTH));
            writeConfig(target.resolve("text_encoder_2"), """
                    {"architectures": ["CLIPTextModelWithProjection"], "bos_token_id": 0, "eos_token_id": 2,
                     "hidden_act": "gelu", "hidden_size": %d, "intermediate_size": 64,
                     "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
                     "num_attention_heads": 2, "num_hidden_layers": 3, "pad_token_id": 1, "projection_dim": %d,
                     "vocab_size": 49408}
                    """.formatted(POOLED_WIDTH, POOLED_WIDTH));
            writeConfig(target.resolve("unet"), """
                    {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "addition_embed_type": "text_time",
                     "addition_embed_type_num_heads": 64, "addition_time_embed_dim": %d,
                     "attention_head_dim": [1, 2, 4], "block_out_channels": [32, 64, 64],
                     "center_input_sample": false, "class_embed_type": null, "class_embeddings_concat": false,
                     "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": %d,
                     "cross_attention_norm": null,
                     "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                     "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null,
                     "encoder_hid_dim_type": null, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
                     "layers_per_block": 2, "mid_block_only_cross_attention": null, "mid_block_scale_factor": 1,
                     "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
                     "num_attention_heads": null, "num_class_embeds": null, "only_cross_attention": false,
                     "out_channels": 4, "projection_class_embeddings_input_dim": %d,
                     "resnet_out_scale_factor": 1.0, "resnet_skip_time_act": false,
                     "resnet_time_scale_shift": "default", "sample_size": %d, "time_cond_proj_dim": null,
                     "time_embedding_act_fn": null, "time_embedding_dim": null,
                     "time_embedding_type": "positional", "timestep_post_act": null,
                     "transformer_layers_per_block": [1, 2, 3],
                     "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                     "upcast_attention": null, "use_linear_projection": true}
                    """.formatted(TIME_ID_CHANNELS, TEXT_ENCODER_WIDTH + POOLED_WIDTH,
                    POOLED_WIDTH + TIME_IDS * TIME_ID_CHANNELS, SAMPLE_SIZE));
            writeWeights(target.resolve("text_encoder/model.safetensors"),
                    DjlTextEncoder.parameterShapes(target.resolve("text_encoder")));
            writeWeights(target.resolve("text_encoder_2/model.safetensors"),
                    DjlTextEncoder.parameterShapes(target.resolve("text_encoder_2")));
            writeWeights(target.resolve("unet/diffusion_pytorch_model.safetensors"),
                    DjlDenoiser.parameterShapes(target.resolve("unet")));
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The seeded value of every parameter, by key. */
    static Map<String, Tensor> randomWeights(Map<String, long[]> shapes) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        new TreeMap<>(shapes).forEach((key, shape) -> {
            int[] dims = new int[shape.length];
            int count = 1;
            for (int axis = 0; axis < shape.length; axis++) {
                dims[axis] = Math.toIntExact(shape[axis]);
                count *= dims[axis];
            }
            SplittableRandom random = new SplittableRandom(SEED * 31 + key.hashCode());
            float[] values = new float[count];
            boolean gain = shape.length == 1 && key.endsWith(".weight");
            double std = shape.length == 1 ? 0.1 : 1.0 / Math.sqrt(3.0 * (count / dims[0]));
            for (int i = 0; i < count; i++) {
                values[i] = (float) ((gain ? 1 : 0) + std * gaussian(random));
            }
            tensors.put(key, Tensor.wrapOwned(values, dims));
        });
        return tensors;
    }

    private static double gaussian(SplittableRandom random) {
        double radius = StrictMath.sqrt(-2.0 * StrictMath.log(1.0 - random.nextDouble()));
        return radius * StrictMath.cos(2.0 * StrictMath.PI * random.nextDouble());
    }

    private static void writeWeights(Path file, Map<String, long[]> shapes) throws IOException {
        SafetensorsWriter.write(file, randomWeights(shapes));
    }

    private static void writeConfig(Path folder, String json) throws IOException {
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("config.json"), json);
    }
}
