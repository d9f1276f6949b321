package dev.suppress.djl;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import dev.suppress.djl.vae.DjlLatentEncoder;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The parameters that each part's {@code parameterShapes} derives from a {@code config.json} are exactly the tensors
 * that diffusers and transformers saved for that configuration: the fixture model's files, name for name and shape
 * for shape.
 */
class ParameterShapesTest {

    @Test
    void clipTextModelParametersAreTheTensorsTransformersSaved() {
        Path folder = Fixtures.tinyModel().resolve("text_encoder");
        assertSameParameters(folder.resolve("model.safetensors"), DjlTextEncoder.parameterShapes(folder));
    }

    @Test
    void unetParametersAreTheTensorsDiffusersSaved() {
        Path folder = Fixtures.tinyModel().resolve("unet");
        assertSameParameters(folder.resolve("diffusion_pytorch_model.safetensors"),
                DjlDenoiser.parameterShapes(folder));
    }

    @Test
    void decoderAndEncoderParametersTogetherAreTheTensorsDiffusersSaved() {
        Path folder = Fixtures.tinyModel().resolve("vae");
        Map<String, long[]> decoder = DjlLatentDecoder.parameterShapes(folder);
        Map<String, long[]> encoder = DjlLatentEncoder.parameterShapes(folder);
        Map<String, long[]> both = new TreeMap<>(decoder);
        both.putAll(encoder);
        assertEquals(decoder.size() + encoder.size(), both.size(), "the two halves share no parameter");
        assertSameParameters(folder.resolve("diffusion_pytorch_model.safetensors"), both);
    }

    private static void assertSameParameters(Path file, Map<String, long[]> shapes) {
        Map<String, String> expected = new TreeMap<>();
        try (SafetensorsFile golden = SafetensorsFile.open(file)) {
            for (Map.Entry<String, TensorInfo> entry : golden.infos().entrySet()) {
                expected.put(entry.getKey(), Arrays.toString(entry.getValue().shape()));
            }
        }
        Map<String, String> actual = new TreeMap<>();
        shapes.forEach((key, shape) -> actual.put(key, Arrays.toString(shape)));
        assertTrue(actual.size() > 30, "too few parameters enumerated: " + actual.size());
        assertEquals(expected, actual, "parameters of " + file);
    }
}
