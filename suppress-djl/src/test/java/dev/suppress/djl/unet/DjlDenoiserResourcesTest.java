package dev.suppress.djl.unet;

import ai.djl.Device;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** STYLE.md §4: calls leave nothing in the weights' manager, which is capped, and closing frees it. */
class DjlDenoiserResourcesTest {

    @Test
    void callsLeaveTheWeightsManagerAsLoadedAndClosingFreesIt() {
        DjlDenoiser denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                UNetDescription.PredictionType.EPSILON);
        UNet2DConditionModel model = denoiser.model();
        int arrays = model.weightsManager().getManagedArrays().size();
        Tensor latent = Tensor.zeros(1, 4, 32, 32);
        Tensor context = Tensor.zeros(1, 77, 80);
        AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
        denoiser.denoise(latent, 981, context, capture);
        denoiser.attention(latent, 981, context, capture);
        new DjlGradientProbe(denoiser).probe(latent, 981, context.reshape(77, 80), capture,
                maps -> new ObjectiveGradient(0, maps.cross(), maps.self()));
        assertEquals(arrays, model.weightsManager().getManagedArrays().size());
        assertThrows(IllegalStateException.class, () -> model.weightsManager().create(1f),
                "the weights' manager must be capped");

        denoiser.close();
        assertFalse(model.weightsManager().isOpen());
        IllegalStateException closed = assertThrows(IllegalStateException.class,
                () -> denoiser.denoise(latent, 981, context, null));
        assertEquals("DjlDenoiser is closed", closed.getMessage());
    }
}
