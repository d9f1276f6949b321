package dev.suppress.onnx;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.UNetDescription;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrtModelFolderTest {

    @TempDir
    Path root;

    @BeforeEach
    void layOutTheRequiredParts() throws IOException {
        for (String part : new String[] {"text_encoder", "unet", "vae_decoder"}) {
            Files.createDirectories(root.resolve(part));
            Files.writeString(root.resolve(part).resolve("model.onnx"), "");
        }
    }

    @Test
    void anSdxlExportIsRefusedNamingTheBackendThatRunsSdxl() throws IOException {
        Files.createDirectories(root.resolve("text_encoder_2"));
        Files.writeString(root.resolve("text_encoder_2/model.onnx"), "");
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> OrtModelFolder.of(root));
        assertTrue(error.getMessage().contains("an SDXL model (it has text_encoder_2/)")
                && error.getMessage().contains("--backend djl"), error.getMessage());
    }

    @Test
    void withoutAVaeConfigTheScalingFactorIsTheSd1Default() {
        assertEquals(0.18215, OrtModelFolder.of(root).vaeScalingFactor(), 0);
    }

    @Test
    void readsTheScalingFactorOfTheVaeConfigBesideTheDecoder() throws IOException {
        Files.writeString(root.resolve("vae_decoder/config.json"), "{\"scaling_factor\": 0.13025}");
        assertEquals(0.13025, OrtModelFolder.of(root).vaeScalingFactor(), 0);
    }

    @Test
    void aNonPositiveScalingFactorIsAModelFormatError() throws IOException {
        Files.writeString(root.resolve("vae_decoder/config.json"), "{\"scaling_factor\": 0}");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> OrtModelFolder.of(root).vaeScalingFactor());
        assertTrue(error.getMessage().contains("scaling_factor must be a positive number, found 0"),
                error.getMessage());
    }

    @Test
    void readsThePredictionTypeOfTheSchedulerConfig() throws IOException {
        assertEquals(UNetDescription.PredictionType.EPSILON, OrtModelFolder.of(root).predictionType());
        Files.createDirectories(root.resolve("scheduler"));
        Files.writeString(root.resolve("scheduler/scheduler_config.json"), "{\"prediction_type\": \"v_prediction\"}");
        assertEquals(UNetDescription.PredictionType.V_PREDICTION, OrtModelFolder.of(root).predictionType());
    }

    @Test
    void theVaeEncoderIsOptional() {
        OrtModelFolder folder = OrtModelFolder.of(root);
        assertTrue(folder.has("unet"));
        assertFalse(folder.has("vae_encoder"));
    }
}
