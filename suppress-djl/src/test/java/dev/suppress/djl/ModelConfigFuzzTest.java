package dev.suppress.djl;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * Fuzzes the {@code config.json} of the CLIP text encoder, the UNet and the VAE: reading a config and listing the
 * parameters it implies (the parts' constructors against a recording loader, which allocates nothing) either
 * works, with every dimension positive, or throws {@link ModelFormatException}; never another exception, a hang,
 * or an allocation sized by a config number. The first input byte picks the part; the rest is the file. Seeds:
 * the fixture model's three configs.
 */
class ModelConfigFuzzTest {

    private static final String[] PARTS = {"text_encoder", "unet", "vae"};
    private static final Map<String, Function<Path, Map<String, long[]>>> SHAPES = Map.of(
            "text_encoder", DjlTextEncoder::parameterShapes, "unet", DjlDenoiser::parameterShapes,
            "vae", DjlLatentDecoder::parameterShapes);

    private static Path folder;

    @BeforeAll
    static void createFolder() throws IOException {
        folder = Files.createTempDirectory("fuzz-config-");
        for (String part : PARTS) {
            Files.createDirectories(folder.resolve(part));
        }
    }

    @AfterAll
    static void deleteFolder() throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(file);
            }
        }
    }

    @FuzzTest
    @Timeout(20)
    void parameterShapesOfAnyConfig(byte[] input) throws IOException {
        if (input.length == 0) {
            return;
        }
        String part = PARTS[Math.floorMod(input[0], PARTS.length)];
        Path partFolder = folder.resolve(part);
        Files.write(partFolder.resolve("config.json"), Arrays.copyOfRange(input, 1, input.length));
        Map<String, long[]> shapes;
        try {
            shapes = SHAPES.get(part).apply(partFolder);
        } catch (ModelFormatException expected) {
            return;
        }
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            for (long dimension : entry.getValue()) {
                if (dimension <= 0) {
                    throw new AssertionError(part + " parameter '" + entry.getKey() + "' has shape "
                            + Arrays.toString(entry.getValue()) + " from config " + new String(input, 1,
                            input.length - 1, java.nio.charset.StandardCharsets.UTF_8));
                }
            }
        }
    }
}
