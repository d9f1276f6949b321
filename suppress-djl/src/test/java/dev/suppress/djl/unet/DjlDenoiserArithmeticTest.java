package dev.suppress.djl.unet;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The share of a forward pass that an attention-only pass performs, counted in multiply-adds. */
class DjlDenoiserArithmeticTest {

    @Test
    void anAttentionOnlyPassCostsTheShareUpToItsLastCapturedLayer() {
        try (DjlDenoiser denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), ai.djl.Device.cpu(),
                UNetDescription.PredictionType.EPSILON)) {
            double at16 = denoiser.attentionPassFraction(
                    AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS), 32);
            double at8 = denoiser.attentionPassFraction(
                    AttentionCapture.reference(8, HeadAveraging.FIRST_HALF_OF_HEADS), 32);
            // the last 16x16 layer is in up_blocks.2 (measured 0.52), the last 8x8 one in up_blocks.1 (0.33)
            assertTrue(at16 > 0.4 && at16 < 0.7, "16x16: " + at16);
            assertTrue(at8 > 0.2 && at8 < at16, "8x8: " + at8);
            // counted once per capture and size
            assertEquals(at16, denoiser.attentionPassFraction(
                    AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS), 32));
        }
    }
}
