package dev.suppress.djl.vae;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sliced and tiled VAE decoding (diffusers' enable_slicing / enable_tiling) on the fixture VAE. */
class VaeTilingTest {

    /**
     * Mean absolute difference allowed between a tiled and a whole decode, as a fraction of the whole image's mean
     * absolute value. Tiles of 24 latent pixels sharing 6 (a 32x32 latent in 2x2 tiles, the ratio of 512-pixel
     * tiles on a 768-pixel SD image) change what the decoder's GroupNorms average over and what its mid-block
     * attention sees. Measured on this random-weight VAE: 0.029 against an image mean of 0.28 (10%); 15% leaves
     * room for other libtorch kernels, and a misplaced tile or a missing blend is far above it.
     */
    private static final double TILED_MEAN_ABS_FRACTION = 0.15;
    /**
     * Blending must remove the seams: the worst pixel of the blended tiles (measured 0.33) must stay under half the
     * worst pixel of the same tiles placed without overlap (measured 2.5, at the seams).
     */
    private static final double BLENDED_TO_UNBLENDED_MAX = 0.5;

    private static DjlLatentDecoder whole;
    private static DjlLatentDecoder tiled;
    private static DjlLatentDecoder unblended;
    private static Tensor latent;

    @BeforeAll
    static void open() {
        whole = DjlLatentDecoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu(), DataType.FLOAT32,
                VaeTiling.OFF);
        tiled = DjlLatentDecoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu(), DataType.FLOAT32,
                new VaeTiling(24, 0.25));
        unblended = DjlLatentDecoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu(), DataType.FLOAT32,
                new VaeTiling(24, 0));
        try (SafetensorsFile golden = Fixtures.open("components/vae.safetensors")) {
            latent = golden.tensor("latent");
        }
    }

    @AfterAll
    static void close() {
        whole.close();
        tiled.close();
        unblended.close();
    }

    /** What a caller's checkpoint throws to stop a decode. */
    private static final class Stop extends RuntimeException {
        private static final long serialVersionUID = 1L;
    }

    @Test
    void theCheckpointRunsBeforeEachTileAndWhatItThrowsLeavesNothingBehind() {
        // a 32x32 latent in tiles of 24 with stride 18: 2x2 tiles
        int[] passes = {0};
        Tensor full = tiled.decode(latent, () -> passes[0]++);
        assertEquals(4, passes[0]);
        assertArrayEquals(tiled.decode(latent).toArray(), full.toArray());
        int arrays = liveArrays();
        int[] started = {0};
        assertThrows(Stop.class, () -> tiled.decode(latent, () -> {
            if (started[0]++ == 2) {
                throw new Stop();
            }
        }));
        assertEquals(3, started[0], "the third tile's checkpoint stopped it");
        assertEquals(arrays, liveArrays(), "NDArrays left by a decode stopped between tiles");
        int[] images = {0};
        whole.decode(Tensor.concat(latent, latent), () -> images[0]++);
        assertEquals(2, images[0], "one pass per image of the batch");
    }

    /** Every NDArray alive in the PyTorch engine. */
    private static int liveArrays() {
        try (ai.djl.ndarray.NDManager probe = ai.djl.ndarray.NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            return probe.getParentManager().getManagedArrays().size();
        }
    }

    @Test
    void aBatchIsDecodedOneImageAtATimeWithTheSameResult() {
        Tensor one = whole.decode(latent);
        float[] scaled = latent.toArray();
        for (int i = 0; i < scaled.length; i++) {
            scaled[i] *= 0.5f;
        }
        Tensor other = Tensor.of(scaled, latent.shape());
        Tensor batch = whole.decode(Tensor.concat(latent, other));
        assertEquals(2, batch.dim(0));
        assertArrayEquals(one.toArray(), batch.batchElement(0).toArray());
        assertArrayEquals(whole.decode(other).toArray(), batch.batchElement(1).toArray());
    }

    @Test
    void aLatentThatFitsOneTileIsDecodedWhole() {
        try (DjlLatentDecoder defaults = DjlLatentDecoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu())) {
            assertArrayEquals(whole.decode(latent).toArray(), defaults.decode(latent).toArray());
        }
    }

    @Test
    void tiledDecodingMatchesTheWholeImageWithinTheTilesEffectAndBlendingRemovesTheSeams() {
        float[] expected = whole.decode(latent).toArray();
        Tensor image = tiled.decode(latent);
        assertArrayEquals(new int[] {1, 3, 256, 256}, image.shape());
        float[] actual = image.toArray();
        float[] seams = unblended.decode(latent).toArray();
        double sum = 0;
        double scale = 0;
        double max = 0;
        double seamMax = 0;
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Double.isFinite(actual[i]), "pixel " + i + " is " + actual[i]);
            double difference = Math.abs(actual[i] - expected[i]);
            sum += difference;
            scale += Math.abs(expected[i]);
            max = Math.max(max, difference);
            seamMax = Math.max(seamMax, Math.abs(seams[i] - expected[i]));
        }
        assertTrue(sum / scale < TILED_MEAN_ABS_FRACTION, "tiled vs whole decode: mean abs difference "
                + sum / expected.length + ", image mean abs " + scale / expected.length);
        assertTrue(max < BLENDED_TO_UNBLENDED_MAX * seamMax, "tiled vs whole decode: max abs " + max
                + " blended, " + seamMax + " without blending");
    }

    @Test
    void blendingRampsLinearlyFromTheUpperTileToTheLowerOne() {
        // plain version of diffusers' blend_v on one channel, 1 column: a = 10 everywhere, b = 0, extent 4
        Tensor above = Tensor.of(new float[] {10, 10, 10, 10, 10, 10}, 1, 1, 6, 1);
        float[] below = new float[6];
        DjlLatentDecoder.blendVerticalInPlace(above, below, new int[] {1, 1, 6, 1}, 4);
        assertArrayEquals(new float[] {10, 7.5f, 5, 2.5f, 0, 0}, below, 1e-6f);
        float[] right = {0, 0, 0, 0, 0, 0};
        DjlLatentDecoder.blendHorizontalInPlace(Tensor.of(new float[] {10, 10, 10, 10, 10, 10}, 1, 1, 1, 6), right,
                new int[] {1, 1, 1, 6}, 4);
        assertArrayEquals(new float[] {10, 7.5f, 5, 2.5f, 0, 0}, right, 1e-6f);
    }

    @Test
    void tilesThatWouldNotAdvanceAreRejected() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> new VaeTiling(2, 0.75));
        assertTrue(refused.getMessage().contains("advance"), refused.getMessage());
    }
}
