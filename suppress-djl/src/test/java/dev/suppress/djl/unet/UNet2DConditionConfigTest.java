package dev.suppress.djl.unet;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.djl.weights.ConfigJson;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Reading {@code unet/config.json} as diffusers 0.21.4 does, and refusing what is not implemented by name. */
class UNet2DConditionConfigTest {

    /** The fields of runwayml/stable-diffusion-v1-5's unet/config.json that matter here. */
    private static final String SD15 = """
            {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
             "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false, "cross_attention_dim": 768,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                  "DownBlock2D"],
             "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
             "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
             "out_channels": 4, "sample_size": 64,
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
            """;

    /** The fields of stabilityai/stable-diffusion-2-1's unet/config.json that differ from SD 1.5. */
    private static final String SD21 = SD15.replace("\"attention_head_dim\": 8", "\"attention_head_dim\": [5, 10, 20, 20]")
            .replace("\"cross_attention_dim\": 768", "\"cross_attention_dim\": 1024, \"use_linear_projection\": true, "
                    + "\"upcast_attention\": true, \"dual_cross_attention\": false, \"num_class_embeds\": null, "
                    + "\"only_cross_attention\": false, \"class_embed_type\": null")
            .replace("\"sample_size\": 64", "\"sample_size\": 96");

    @TempDir
    Path dir;

    private UNet2DConditionConfig read(String json) throws IOException {
        Files.writeString(dir.resolve("config.json"), json);
        return UNet2DConditionConfig.read(ConfigJson.read(dir));
    }

    @Test
    void sd15TakesItsHeadCountFromAttentionHeadDim() throws IOException {
        UNet2DConditionConfig config = read(SD15);
        assertEquals(List.of(8, 8, 8, 8), config.attentionHeads());
        assertEquals(List.of(2, 2, 2, 2), config.layersPerBlock());
        assertEquals(List.of(1, 1, 1, 1), config.transformerLayersPerBlock());
        assertEquals(768, config.crossAttentionDim());
        assertEquals(1280, config.timeEmbedDim());
        assertFalse(config.useLinearProjection());
    }

    @Test
    void sd21HasPerBlockHeadsAndLinearProjections() throws IOException {
        UNet2DConditionConfig config = read(SD21);
        // diffusers 0.21.4's naming bug: these are head counts (head width 64), not head widths
        assertEquals(List.of(5, 10, 20, 20), config.attentionHeads());
        assertTrue(config.useLinearProjection());
        assertTrue(config.upcastAttention());
        assertEquals(1024, config.crossAttentionDim());
        assertEquals(96, config.sampleSize());
    }

    @Test
    void numAttentionHeadsWinsOverAttentionHeadDimWhenSet() throws IOException {
        UNet2DConditionConfig config = read(SD15.replace("\"attention_head_dim\": 8",
                "\"attention_head_dim\": 64, \"num_attention_heads\": [4, 4, 8, 8]"));
        assertEquals(List.of(4, 4, 8, 8), config.attentionHeads());
    }

    /** stabilityai/stable-diffusion-xl-base-1.0's unet/config.json, as the library ships it for single files. */
    private static final String SDXL = dev.suppress.djl.TestFolders.sdxlConfig("unet");

    @Test
    void sdxlHasTheTextTimeEmbeddingAndPerLevelTransformerDepths() throws IOException {
        UNet2DConditionConfig config = read(SDXL);
        assertTrue(config.hasTextTimeEmbedding());
        assertEquals(256, config.additionTimeEmbedDim());
        assertEquals(2816, config.projectionClassEmbeddingsInputDim());
        assertEquals(List.of(1, 2, 10), config.transformerLayersPerBlock());
        assertEquals(List.of(5, 10, 20), config.attentionHeads());
        assertEquals(List.of("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                config.downBlockTypes());
        assertEquals(2048, config.crossAttentionDim());
        assertEquals(1280, config.timeEmbedDim());
        assertTrue(config.useLinearProjection());
        // upcast_attention is null in SDXL's file: the default
        assertFalse(config.upcastAttention());
        assertEquals(128, config.sampleSize());
    }

    @Test
    void sdHasNoAdditionEmbeddingEvenWhenItsFieldsArePresent() throws IOException {
        // diffusers reads addition_time_embed_dim only for addition_embed_type "text_time"
        UNet2DConditionConfig config = read(SD15.replace("\"act_fn\": \"silu\",",
                "\"act_fn\": \"silu\", \"addition_embed_type\": null, \"addition_time_embed_dim\": 256,"));
        assertFalse(config.hasTextTimeEmbedding());
        assertEquals(0, config.additionTimeEmbedDim());
        assertEquals(0, config.projectionClassEmbeddingsInputDim());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "\"class_embed_type\": \"timestep\"|Unsupported class_embed_type = \"timestep\": this backend implements only "
                + "class_embed_type = null (the Stable Diffusion 1.x/2.x configuration)",
        "\"addition_embed_type\": \"text\"|Unsupported addition_embed_type = \"text\": this backend implements "
                + "only addition_embed_type = null (Stable Diffusion 1.x/2.x) or \"text_time\" (SDXL)",
        "\"addition_embed_type\": \"text_time\"|addition_embed_type = \"text_time\" needs addition_time_embed_dim "
                + "and projection_class_embeddings_input_dim (SDXL base: 256 and 2816)",
        "\"addition_embed_type\": \"text_time\", \"addition_time_embed_dim\": 256|addition_embed_type = "
                + "\"text_time\" needs addition_time_embed_dim and projection_class_embeddings_input_dim (SDXL base: "
                + "256 and 2816)",
        "\"addition_embed_type\": \"text_time\", \"addition_time_embed_dim\": 256, "
                + "\"projection_class_embeddings_input_dim\": 256|projection_class_embeddings_input_dim 256 leaves no "
                + "room for the pooled text embedding beside time ids of addition_time_embed_dim 256 each",
        "\"only_cross_attention\": [false, true, false, false]|Unsupported only_cross_attention = "
                + "[false,true,false,false]: this backend implements only only_cross_attention = false (the Stable "
                + "Diffusion 1.x/2.x configuration)",
        "\"resnet_time_scale_shift\": \"scale_shift\"|Unsupported resnet_time_scale_shift = \"scale_shift\": this "
                + "backend implements only resnet_time_scale_shift = \"default\" (the Stable Diffusion 1.x/2.x "
                + "configuration)",
        "\"mid_block_type\": null|Unsupported mid_block_type = null (no mid block): expected UNetMidBlock2DCrossAttn",
        "\"cross_attention_dim\": [768, 768, 1024, 1024]|Unsupported cross_attention_dim [768, 768, 1024, 1024]: "
                + "one context width for every block is implemented",
    })
    void refusesAnUnimplementedOptionByName(String field, String message) throws IOException {
        String json = SD15.replace("\"_class_name\": \"UNet2DConditionModel\",",
                "\"_class_name\": \"UNet2DConditionModel\", " + field + ",");
        if (field.startsWith("\"cross_attention_dim\"")) {
            json = SD15.replace("\"cross_attention_dim\": 768", field);
        }
        final String config = json;
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> read(config));
        assertEquals(message + " (in " + dir.resolve("config.json") + ")", error.getMessage());
    }

    @Test
    void refusesAnUnknownBlockType() throws IOException {
        String json = SD15.replace("\"DownBlock2D\"]", "\"SimpleCrossAttnDownBlock2D\"]");
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> read(json));
        assertTrue(error.getMessage().startsWith("Unsupported down_block_types entry 'SimpleCrossAttnDownBlock2D': "
                + "expected CrossAttnDownBlock2D or DownBlock2D"), error.getMessage());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "\"out_channels\": 4|\"out_channels\": 0|out_channels",
        "\"in_channels\": 4|\"in_channels\": -4|in_channels",
        "\"sample_size\": 64|\"sample_size\": 1000000000|sample_size",
        "\"layers_per_block\": 2|\"layers_per_block\": 0|layers_per_block",
        "\"cross_attention_dim\": 768|\"cross_attention_dim\": 0|cross_attention_dim",
        "[320, 640, 1280, 1280]|[0, 0, 0, 0]|block_out_channels",
    })
    void refusesASizeOutOfRangeByName(String field, String value, String name) throws IOException {
        // out_channels 0 was a fuzzer finding: a zero-width conv_out that loaded and produced empty noise predictions
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> read(SD15.replace(field, value)));
        assertTrue(error.getMessage().startsWith("Field '" + name + "' must be a size from 1 to "
                + ConfigJson.MAX_DIMENSION), error.getMessage());
    }
}
