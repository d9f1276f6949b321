package dev.suppress.djl;

import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The published configurations of {@code stabilityai/stable-diffusion-xl-base-1.0} give the published parameter
 * counts: the parts' {@code parameterShapes} enumerate SDXL's architecture at full size (no weights are read).
 */
class SdxlParameterCountTest {

    /** SDXL base's {@code unet/config.json}. */
    private static final String UNET = """
            {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.19.0.dev0", "act_fn": "silu",
             "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64, "addition_time_embed_dim": 256,
             "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280],
             "center_input_sample": false, "class_embed_type": null, "class_embeddings_concat": false,
             "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048, "cross_attention_norm": null,
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "downsample_padding": 1, "dual_cross_attention": false, "encoder_hid_dim": null,
             "encoder_hid_dim_type": null, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
             "layers_per_block": 2, "mid_block_only_cross_attention": null, "mid_block_scale_factor": 1,
             "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
             "num_attention_heads": null, "num_class_embeds": null, "only_cross_attention": false,
             "out_channels": 4, "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0,
             "resnet_skip_time_act": false, "resnet_time_scale_shift": "default", "sample_size": 128,
             "time_cond_proj_dim": null, "time_embedding_act_fn": null, "time_embedding_dim": null,
             "time_embedding_type": "positional", "timestep_post_act": null,
             "transformer_layers_per_block": [1, 2, 10],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
             "upcast_attention": null, "use_linear_projection": true}
            """;

    /** SDXL base's {@code text_encoder_2/config.json} (OpenCLIP ViT-bigG/14). */
    private static final String TEXT_ENCODER_2 = """
            {"architectures": ["CLIPTextModelWithProjection"], "attention_dropout": 0.0, "bos_token_id": 0,
             "dropout": 0.0, "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1280,
             "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 5120,
             "layer_norm_eps": 1e-05, "max_position_embeddings": 77, "model_type": "clip_text_model",
             "num_attention_heads": 20, "num_hidden_layers": 32, "pad_token_id": 1, "projection_dim": 1280,
             "torch_dtype": "float16", "vocab_size": 49408}
            """;

    /** SDXL base's {@code text_encoder/config.json} (OpenAI CLIP ViT-L/14, as in SD 1.x). */
    private static final String TEXT_ENCODER = """
            {"architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
             "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
             "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
             "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
             "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float16",
             "vocab_size": 49408}
            """;

    @TempDir
    Path dir;

    @Test
    void theUNetHasSdxlsParameters() throws IOException {
        Map<String, long[]> shapes = DjlDenoiser.parameterShapes(folderWith("unet", UNET));
        // sum(p.numel() for p in UNet2DConditionModel.parameters()) for SDXL base: 2.567 billion
        assertEquals(2_567_463_684L, count(shapes));
        assertArrayEquals(new long[] {1280, 2816}, shapes.get("add_embedding.linear_1.weight"));
        // ten transformer blocks per Transformer2DModel at the last level (32x32 at 1024²): 2 x 10 down, 10 mid and
        // 3 x 10 up, the 60 blocks
        long blocks = shapes.keySet().stream()
                .filter(key -> key.endsWith(".attn2.to_k.weight"))
                .filter(key -> key.startsWith("down_blocks.2.") || key.startsWith("mid_block.")
                        || key.startsWith("up_blocks.0."))
                .count();
        assertEquals(60, blocks);
        assertArrayEquals(new long[] {1280, 2048},
                shapes.get("down_blocks.2.attentions.1.transformer_blocks.9.attn2.to_k.weight"));
    }

    @Test
    void theTextEncodersHaveSdxlsParameters() throws IOException {
        assertEquals(694_659_840L, count(DjlTextEncoder.parameterShapes(folderWith("text_encoder_2",
                TEXT_ENCODER_2))));
        assertEquals(123_060_480L, count(DjlTextEncoder.parameterShapes(folderWith("text_encoder", TEXT_ENCODER))));
    }

    private Path folderWith(String name, String config) throws IOException {
        Path folder = dir.resolve(name);
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("config.json"), config);
        return folder;
    }

    private static long count(Map<String, long[]> shapes) {
        long total = 0;
        for (long[] shape : shapes.values()) {
            long size = 1;
            for (long dim : shape) {
                size *= dim;
            }
            total += size;
        }
        return total;
    }
}
