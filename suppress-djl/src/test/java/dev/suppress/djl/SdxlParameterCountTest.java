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

    private static final String UNET = TestFolders.sdxlConfig("unet");
    private static final String TEXT_ENCODER_2 = TestFolders.sdxlConfig("text_encoder_2");
    private static final String TEXT_ENCODER = TestFolders.sdxlConfig("text_encoder");

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
