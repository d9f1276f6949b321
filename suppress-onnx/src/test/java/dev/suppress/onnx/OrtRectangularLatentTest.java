package dev.suppress.onnx;

import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ONNX backend on a non-square latent of the fixture model ({@code [1, 4, 24, 32]}, 256 px wide and 192 px
 * high): the exported graph takes any height and width, and the captured maps are {@code h_l x w_l}.
 */
class OrtRectangularLatentTest {

    @Test
    void capturesMapsOfTheLevelsHeightAndWidthWhoseRowsSumToOne() {
        Random random = new Random(355);
        Tensor latent = gaussian(random, 1, 4, 24, 32);
        Tensor contexts = gaussian(random, 1, 77, 80);
        try (OrtDenoiser denoiser = TinyOnnxModel.denoiser(AttentionAggregation.core())) {
            AttentionCapture capture = AttentionCapture.reference(12, 16, HeadAveraging.ALL_HEADS);
            var output = denoiser.denoise(latent, 501, contexts, capture);
            assertArrayEquals(new int[] {1, 4, 24, 32}, output.noisePrediction().shape());
            AttentionMaps maps = output.attention();
            assertArrayEquals(new int[] {1, 12, 16, 77}, maps.cross().shape());
            assertArrayEquals(new int[] {1, 12, 16, 192}, maps.self().shape());
            assertRowsSumToOne("cross", maps.cross());
            assertRowsSumToOne("self", maps.self());
            AttentionMaps cut = denoiser.attention(latent, 501, contexts, capture);
            TensorAssertions.assertClose("attention-only cross maps", maps.cross(), cut.cross(),
                    OrtDenoiserParityTest.SAME_KERNELS);
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> denoiser.denoise(
                    latent, 501, contexts, AttentionCapture.reference(16, 12, HeadAveraging.ALL_HEADS)));
            assertTrue(error.getMessage().contains("16x12") && error.getMessage().contains("12x16"),
                    error.getMessage());
        }
    }

    @Test
    void generatesAnImageOfTheRequestedWidthAndHeight() {
        try (Suppressor suppressor = Suppressor.builder().backend("onnx").modelFolder(Fixtures.path("tiny-sd-onnx"))
                .tokenizerFolder(Fixtures.tinyModel().resolve("tokenizer"))
                .schedulerConfig(Fixtures.tinyModel().resolve("scheduler/scheduler_config.json")).build()) {
            SuppressionResult result = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").steps(2).itoIterations(0).width(256).height(192).build());
            assertEquals(256, result.suppressed().getWidth());
            assertEquals(192, result.suppressed().getHeight());
            assertArrayEquals(new int[] {1, 4, 24, 32}, result.suppressedLatent().shape());
            assertArrayEquals(new int[] {12, 16, 77}, result.attention().suppressed().shape());
        }
    }

    private static Tensor gaussian(Random random, int... shape) {
        int size = 1;
        for (int dimension : shape) {
            size *= dimension;
        }
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.of(values, shape);
    }

    private static void assertRowsSumToOne(String name, Tensor maps) {
        int keys = maps.dim(3);
        for (int row = 0; row < maps.size() / keys; row++) {
            double sum = 0;
            for (int k = 0; k < keys; k++) {
                sum += maps.get(row * keys + k);
            }
            assertEquals(1.0, sum, 1e-4, name + " map row " + row);
        }
    }
}
