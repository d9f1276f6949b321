package dev.suppress.djl;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.Suppressor;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.unet.DjlGradientProbe;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Half precision as autocast does it: the weights held in float16, the networks computed in it, float32 at the seams
 * (and through the norms); the result stays within what float16's 11-bit significand allows of the float32
 * computation. bf16 is autocast's (convolution and linear matrices in bfloat16, everything else float32) and stays
 * within bfloat16's 8-bit significand of float32. fp16 is refused through the backend on a CPU; the parts are opened
 * in float16 directly here, which libtorch computes correctly on a CPU, only slowly.
 */
class HalfPrecisionAutocastTest {

    /**
     * Relative L2 distance allowed between a float16 and a float32 noise prediction of the fixture UNet. float16
     * keeps 11 significant bits: each stored value (weights, activations) carries a relative rounding error up to
     * 2^-11 = 4.9e-4, ~2.8e-4 RMS. Through the ~25 rounding stages of the tiny UNet (convolutions, attention,
     * residual sums) errors add roughly in quadrature: sqrt(25) * 2.8e-4 = 1.4e-3; 5e-3 is that with a margin of
     * 3.5x for error growth in the attention softmax (scores of magnitude ~10 in the 3x-scaled fixture q/k). (The
     * same argument gives 2e-2 for bf16's 8 bits.)
     */
    private static final double FP16_NOISE_RELATIVE_L2 = 5e-3;
    /** The same bound for the text encoder's last hidden state (2 layers: fewer stages than the UNet). */
    private static final double FP16_TEXT_RELATIVE_L2 = 5e-3;
    /**
     * The context gradient goes through the forward pass and back: twice the rounding stages of a prediction, so
     * twice its bound.
     */
    private static final double FP16_GRADIENT_RELATIVE_L2 = 1e-2;
    /**
     * The same argument for bfloat16's 8 significant bits (2^-9 = 2e-3 relative per rounding, ~1.1e-3 RMS): about
     * 20 rounding stages (only the convolution and linear inputs are rounded; norms, softmax and the attention
     * products stay float32), sqrt(20) * 1.1e-3 = 5e-3; 2e-2 allows the same 3.5x-4x growth as for fp16.
     */
    private static final double BF16_NOISE_RELATIVE_L2 = 2e-2;
    /**
     * The original branch's final latent after the default schedule: each DDIM step moves the latent by its noise
     * prediction times a coefficient below 1 and the predictions' errors are independent roundings, so the final
     * latent's relative error stays near one prediction's (not the sum over steps); the bound is the prediction's.
     */
    private static final double BF16_LATENT_RELATIVE_L2 = 2e-2;
    /** Twice the prediction's bound: forward and back. */
    private static final double BF16_GRADIENT_RELATIVE_L2 = 4e-2;
    /** bfloat16 probabilities are float32 softmax outputs: rows sum to 1 within float32 rounding. */
    private static final double BF16_MAP_ROW_SUM = 1e-5;
    /** Averaged softmax rows sum to 1: float16 probabilities are each rounded by up to 2^-11 relative. */
    private static final double MAP_ROW_SUM = 2e-3;

    @Test
    void fp16NoisePredictionStaysWithinFp16RoundingOfFloat32() {
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors");
             DjlDenoiser fp32 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON);
             DjlDenoiser fp16 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON, DataType.FLOAT16)) {
            assertEquals(DataType.FLOAT16, fp16.computeType());
            Tensor latent = golden.tensor("latent");
            Tensor context = golden.tensor("encoder_hidden_states");
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            DenoiserOutput exact = fp32.denoise(latent, 981, context, capture);
            DenoiserOutput half = fp16.denoise(latent, 981, context, capture);
            double distance = relativeL2(exact.noisePrediction().toArray(), half.noisePrediction().toArray());
            assertTrue(distance < FP16_NOISE_RELATIVE_L2, "fp16 vs fp32 noise prediction: relative L2 " + distance);
            assertTrue(distance > 0, "fp16 computed exactly the float32 result: the weights were not converted");
            float[] maps = half.attention().cross().toArray();
            int keys = half.attention().cross().dim(3);
            for (int row = 0; row < maps.length / keys; row++) {
                double sum = 0;
                for (int key = 0; key < keys; key++) {
                    sum += maps[row * keys + key];
                }
                assertEquals(1.0, sum, MAP_ROW_SUM, "fp16 averaged cross map row " + row);
            }
        }
    }

    @Test
    void fp16TextEmbeddingStaysWithinFp16RoundingOfFloat32() {
        try (SafetensorsFile golden = Fixtures.open("components/text_encoder.safetensors");
             DjlTextEncoder fp32 = DjlTextEncoder.open(Fixtures.tinyModel().resolve("text_encoder"), Device.cpu());
             DjlTextEncoder fp16 = DjlTextEncoder.open(Fixtures.tinyModel().resolve("text_encoder"), Device.cpu(),
                     DataType.FLOAT16)) {
            long[] ids = golden.longs("input_ids_1");
            int[] tokens = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                tokens[i] = Math.toIntExact(ids[i]);
            }
            double distance = relativeL2(fp32.encode(tokens).toArray(), fp16.encode(tokens).toArray());
            assertTrue(distance < FP16_TEXT_RELATIVE_L2 && distance > 0, "fp16 vs fp32 text embedding: " + distance);
        }
    }

    @Test
    void fp16IsRefusedOnTheCpu() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () ->
                DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel()).withPrecision(Precision.FP16)));
        assertTrue(refused.getMessage().contains("fp16") && refused.getMessage().contains("CPU"),
                refused.getMessage());
    }

    @Test
    void bf16NoisePredictionStaysWithinBf16RoundingOfFloat32() {
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors");
             DjlDenoiser fp32 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON);
             DjlDenoiser bf16 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON, DataType.BFLOAT16)) {
            assertEquals(DataType.FLOAT32, bf16.computeType(), "bf16 keeps float32 activations");
            Tensor latent = golden.tensor("latent");
            Tensor context = golden.tensor("encoder_hidden_states");
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            DenoiserOutput exact = fp32.denoise(latent, 981, context, capture);
            DenoiserOutput half = bf16.denoise(latent, 981, context, capture);
            double distance = relativeL2(exact.noisePrediction().toArray(), half.noisePrediction().toArray());
            System.out.println("bf16 vs fp32 noise prediction, tiny fixture UNet: relative L2 " + distance);
            assertTrue(distance < BF16_NOISE_RELATIVE_L2, "bf16 vs fp32 noise prediction: relative L2 " + distance);
            assertTrue(distance > 1e-4, "bf16 computed the float32 result (" + distance + "): nothing was rounded");
            double maps = relativeL2(exact.attention().cross().toArray(), half.attention().cross().toArray());
            assertTrue(maps < BF16_NOISE_RELATIVE_L2, "bf16 vs fp32 cross maps: relative L2 " + maps);
            float[] cross = half.attention().cross().toArray();
            int keys = half.attention().cross().dim(3);
            for (int row = 0; row < cross.length / keys; row++) {
                double sum = 0;
                for (int key = 0; key < keys; key++) {
                    sum += cross[row * keys + key];
                }
                assertEquals(1.0, sum, BF16_MAP_ROW_SUM, "bf16 averaged cross map row " + row);
            }
        }
    }

    @Test
    void bf16TextEmbeddingAndProbeGradientStayWithinBf16RoundingOfFloat32() {
        try (SafetensorsFile golden = Fixtures.open("components/text_encoder.safetensors");
             DjlTextEncoder fp32 = DjlTextEncoder.open(Fixtures.tinyModel().resolve("text_encoder"), Device.cpu());
             DjlTextEncoder bf16 = DjlTextEncoder.open(Fixtures.tinyModel().resolve("text_encoder"), Device.cpu(),
                     DataType.BFLOAT16)) {
            long[] ids = golden.longs("input_ids_1");
            int[] tokens = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                tokens[i] = Math.toIntExact(ids[i]);
            }
            double distance = relativeL2(fp32.encode(tokens).toArray(), bf16.encode(tokens).toArray());
            assertTrue(distance < BF16_NOISE_RELATIVE_L2 && distance > 1e-4, "bf16 vs fp32 text embedding: "
                    + distance);
        }
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors");
             DjlDenoiser fp32 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON);
             DjlDenoiser bf16 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON, DataType.BFLOAT16)) {
            Tensor latent = golden.tensor("latent");
            Tensor context = golden.tensor("encoder_hidden_states");
            Tensor single = context.reshape(context.dim(1), context.dim(2));
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            AttentionObjective objective = maps -> new ObjectiveGradient(0, maps.cross(), maps.self());
            float[] exact = new DjlGradientProbe(fp32).probe(latent, 981, single, capture, objective,
                    ForwardExtent.THROUGH_CAPTURED_LAYERS).contextGradient().toArray();
            float[] half = new DjlGradientProbe(bf16).probe(latent, 981, single, capture, objective,
                    ForwardExtent.THROUGH_CAPTURED_LAYERS).contextGradient().toArray();
            double distance = relativeL2(exact, half);
            System.out.println("bf16 vs fp32 probe context gradient, tiny fixture UNet: relative L2 " + distance);
            assertTrue(distance < BF16_GRADIENT_RELATIVE_L2 && distance > 1e-4,
                    "bf16 vs fp32 context gradient: " + distance);
        }
    }

    @Test
    void bf16MovesTheOriginalBranchsFinalLatentWithinItsPerStepRounding() {
        SuppressionRequest request = SuppressionRequest.builder("a man without glasses").suppress("glasses")
                .seed(2023).mode(Mode.FAST).build();
        float[] exact;
        float[] half;
        try (Suppressor fp32 = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel())
                .precision(Precision.FP32).build()) {
            exact = fp32.generate(request).originalLatent().toArray();
        }
        try (Suppressor bf16 = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel())
                .precision(Precision.BF16).build()) {
            assertEquals(Precision.BF16, bf16.precision());
            half = bf16.generate(request).originalLatent().toArray();
        }
        double distance = relativeL2(exact, half);
        System.out.println("bf16 vs fp32 original branch final latent, tiny fixture, default schedule: "
                + "relative L2 " + distance);
        assertTrue(distance < BF16_LATENT_RELATIVE_L2 && distance > 1e-4, "bf16 vs fp32 original latent: " + distance);
    }

    @Test
    void bf16OpensThroughTheBackendAndIsReported() {
        try (DjlDiffusionBackend backend = DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel())
                .withPrecision(Precision.BF16))) {
            assertEquals(Precision.BF16, backend.precision());
        }
    }

    @Test
    void autoIsBf16OnACpuWithNativeBf16ElseFloat32AndReported() {
        Precision cpu = ComputePrecision.cpuHasNativeBf16() ? Precision.BF16 : Precision.FP32;
        assertEquals(cpu, ComputePrecision.resolve(Precision.AUTO, Device.cpu()));
        assertEquals(Precision.FP16, ComputePrecision.resolve(Precision.AUTO, Device.gpu(0)));
        try (DjlDiffusionBackend backend = DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel())
                .withPrecision(Precision.AUTO))) {
            assertEquals(cpu, backend.precision());
        }
    }

    @Test
    void theProbeGradientReachesTheFloat32ContextThroughTheHalfPrecisionCast() {
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors");
             DjlDenoiser fp32 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON);
             DjlDenoiser fp16 = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON, DataType.FLOAT16)) {
            Tensor latent = golden.tensor("latent");
            Tensor context = golden.tensor("encoder_hidden_states");
            Tensor single = context.reshape(context.dim(1), context.dim(2));
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            // an objective whose gradient is the maps themselves: d/dc of sum(maps^2)/2
            AttentionObjective objective = maps -> new ObjectiveGradient(0, maps.cross(), maps.self());
            float[] exact = new DjlGradientProbe(fp32).probe(latent, 981, single, capture, objective,
                    ForwardExtent.THROUGH_CAPTURED_LAYERS).contextGradient().toArray();
            float[] half = new DjlGradientProbe(fp16).probe(latent, 981, single, capture, objective,
                    ForwardExtent.THROUGH_CAPTURED_LAYERS).contextGradient().toArray();
            double distance = relativeL2(exact, half);
            assertTrue(distance < FP16_GRADIENT_RELATIVE_L2, "fp16 vs fp32 context gradient: " + distance);
        }
    }

    private static double relativeL2(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double difference = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            double delta = (double) actual[i] - expected[i];
            difference += delta * delta;
            norm += (double) expected[i] * expected[i];
        }
        return Math.sqrt(difference / norm);
    }
}
