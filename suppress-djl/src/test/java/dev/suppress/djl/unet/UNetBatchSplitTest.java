package dev.suppress.djl.unet;

import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A UNet batch that would not fit the free memory runs in equal smaller passes, with the same noise. */
class UNetBatchSplitTest {

    private static final long MIB = 1L << 20;
    /**
     * A pass of fewer samples may sum in another order: measured on the fixture UNet, 2.9e-6 at most against a
     * largest value of 1.78 (1.6e-6 relative); 1e-5 relative to the largest value is the project's float32 parity
     * level.
     */
    private static final double TOLERANCE = 1e-5;

    @AfterEach
    void clearOverride() {
        System.clearProperty(UNetBatchSplit.AVAILABLE_PROPERTY);
    }

    @Test
    void passesAreTheFewestEqualOnesThatFit() {
        long sample = 168 * MIB;
        long reserve = UNetBatchSplit.RESERVE_MIB * MIB;
        assertEquals(4, UNetBatchSplit.samplesPerPass(4, sample, 20_000 * MIB));
        assertEquals(4, UNetBatchSplit.samplesPerPass(4, sample, reserve + 4 * sample));
        // room for 3 of 4: two passes of 2, not 3 + 1
        assertEquals(2, UNetBatchSplit.samplesPerPass(4, sample, reserve + 3 * sample));
        assertEquals(1, UNetBatchSplit.samplesPerPass(4, sample, reserve + sample));
        // nothing fits: one sample at a time (the pass may still succeed; the load-time check warns earlier)
        assertEquals(1, UNetBatchSplit.samplesPerPass(4, sample, 0));
        // 5 with room for 2: three passes of 2, 2, 1
        assertEquals(2, UNetBatchSplit.samplesPerPass(5, sample, reserve + 2 * sample));
        // SD 1.5 at 512 px: 32 top-level float32 arrays of 320 x 64 x 64
        assertEquals(32L * 320 * 64 * 64 * 4, UNetBatchSplit.bytesPerSample(320, 64, 64));
    }

    @Test
    void aBadOverrideIsRefusedByName() {
        System.setProperty(UNetBatchSplit.AVAILABLE_PROPERTY, "lots");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                UNetBatchSplit::availableBytes);
        assertTrue(error.getMessage().contains(UNetBatchSplit.AVAILABLE_PROPERTY), error.getMessage());
    }

    @Test
    void aSplitBatchGivesTheNoiseOfTheWholeOne() {
        Random random = new Random(12);
        try (DjlDenoiser denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), ai.djl.Device.cpu(),
                UNetDescription.PredictionType.EPSILON)) {
            UNetDescription description = denoiser.description();
            int side = description.sampleSize();
            Tensor latents = DjlGradientProbeTest.gaussian(random, 3, description.inChannels(), side, side);
            Tensor contexts = DjlGradientProbeTest.gaussian(random, 3, 77, description.crossAttentionDim());

            long before = denoiser.fullPasses();
            Tensor whole = denoiser.denoise(latents, 501, contexts, null).noisePrediction();
            assertEquals(before + 1, denoiser.fullPasses());

            // room for one sample beside the reserve: three passes of one
            long perSample = UNetBatchSplit.bytesPerSample(32, side, side);
            System.setProperty(UNetBatchSplit.AVAILABLE_PROPERTY,
                    Long.toString((UNetBatchSplit.RESERVE_MIB << 20) + perSample));
            Tensor split = denoiser.denoise(latents, 501, contexts, null).noisePrediction();
            assertEquals(before + 4, denoiser.fullPasses(), "three passes of one sample");
            assertArrayEquals(whole.shape(), split.shape());
            double scale = 0;
            double worst = 0;
            for (int i = 0; i < whole.size(); i++) {
                scale = Math.max(scale, Math.abs(whole.get(i)));
                worst = Math.max(worst, Math.abs(whole.get(i) - split.get(i)));
            }
            assertTrue(worst <= TOLERANCE * scale, "split differs by " + worst + " (max " + scale + ")");
        }
    }
}
