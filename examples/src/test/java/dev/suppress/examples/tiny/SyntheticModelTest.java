package dev.suppress.examples.tiny;

import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.clip.PooledTextEncoding;
import dev.suppress.djl.singlefile.LdmCheckpointWriter;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.unet.TextTimeConditioning;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The streaming writer of {@code make-model}, on the tiny model's configuration (the full-size ones are the same code
 * with other configuration files): the bytes the in-memory writer produces, half types rounded to nearest, and a
 * folder the backend loads and samples from.
 */
class SyntheticModelTest {

    private static final String UNET = "unet/diffusion_pytorch_model.safetensors";

    @TempDir
    Path dir;

    @Test
    void float32FilesHaveTheTinyModelsBytes() {
        Path streamed = SyntheticModel.ensure(dir.resolve("streamed"), "model", SyntheticModel.WeightType.F32, false,
                file -> { });
        Path tiny = dir.resolve("tiny");
        TinyModel.write(tiny);
        for (String file : List.of("text_encoder/model.safetensors", UNET, "vae/diffusion_pytorch_model.safetensors",
                "tokenizer/vocab.json", "tokenizer/merges.txt", "unet/config.json")) {
            try (SafetensorsFile a = file.endsWith(".safetensors") ? SafetensorsFile.open(streamed.resolve(file))
                    : null; SafetensorsFile b = a != null ? SafetensorsFile.open(tiny.resolve(file)) : null) {
                if (a == null) {
                    assertEquals(-1L, mismatch(streamed.resolve(file), tiny.resolve(file)), file);
                    continue;
                }
                assertEquals(b.names(), a.names(), file);
                for (String name : a.names()) {
                    assertArrayEquals(b.floats(name), a.floats(name), file + " " + name);
                }
            }
        }
    }

    @Test
    void aSingleFileCopiesEveryTensorInItsOwnDtypeByteForByte() {
        Path bf16 = SyntheticModel.ensure(dir.resolve("bf16"), "model", SyntheticModel.WeightType.BF16, false,
                file -> { });
        Path file = dir.resolve("bf16.safetensors");
        LdmCheckpointWriter.write(bf16, file, false);
        String[][] pairs = {
                {UNET, "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight",
                        "model.diffusion_model.input_blocks.3.1.transformer_blocks.0.attn1.to_q.weight"},
                {"vae/diffusion_pytorch_model.safetensors", "decoder.conv_in.weight",
                        "first_stage_model.decoder.conv_in.weight"},
                {"text_encoder/model.safetensors", "text_model.encoder.layers.0.mlp.fc1.weight",
                        "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight"}};
        try (SafetensorsFile single = SafetensorsFile.open(file)) {
            assertTrue(Files.notExists(dir.resolve("bf16.safetensors.partial")));
            for (String[] pair : pairs) {
                try (SafetensorsFile part = SafetensorsFile.open(bf16.resolve(pair[0]))) {
                    assertEquals("BF16", single.info(pair[2]).dtype().name(), pair[2]);
                    assertArrayEquals(part.info(pair[1]).shape(), single.info(pair[2]).shape(), pair[2]);
                    assertEquals(part.rawBytes(pair[1]), single.rawBytes(pair[2]), pair[2]);
                }
            }
            // what the writer adds (schedule buffers, EMA copies) is F32 zeros
            assertEquals("F32", single.info("alphas_cumprod").dtype().name());
            assertArrayEquals(new float[1000], single.floats("alphas_cumprod"));
        }
    }

    @Test
    void halfTypesAreTheFloat32ValuesRoundedToNearest() {
        Path f32 = SyntheticModel.ensure(dir.resolve("f32"), "model", SyntheticModel.WeightType.F32, false,
                file -> { });
        Path bf16 = SyntheticModel.ensure(dir.resolve("bf16"), "model", SyntheticModel.WeightType.BF16, true,
                file -> { });
        String key = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight";
        try (SafetensorsFile exact = SafetensorsFile.open(f32.resolve(UNET));
             SafetensorsFile brain = SafetensorsFile.open(bf16.resolve(UNET));
             SafetensorsFile half = SafetensorsFile.open(bf16.resolve("unet/diffusion_pytorch_model.fp16.safetensors"))) {
            assertEquals("BF16", brain.info(key).dtype().name());
            assertEquals("F16", half.info(key).dtype().name());
            float[] reference = exact.floats(key);
            float[] b = brain.floats(key);
            float[] h = half.floats(key);
            for (int i = 0; i < reference.length; i++) {
                float r = reference[i];
                // round to nearest: within half a unit in the last place of the narrower type (8 and 11 bits)
                assertTrue(Math.abs(b[i] - r) <= Math.ulp(r) * (1 << 15), "bf16 of " + r + ": " + b[i]);
                assertTrue(Math.abs(h[i] - r) <= Math.max(Math.ulp(r) * (1 << 12), 0x1p-24f), "fp16 of " + r + ": "
                        + h[i]);
            }
        }
    }

    @Test
    void halfConversionsRoundTiesToEvenAndSaturateToInfinity() {
        assertEquals((short) 0x3c00, StreamingSafetensorsWriter.toHalf(1f));
        assertEquals((short) 0x7bff, StreamingSafetensorsWriter.toHalf(65504f));
        assertEquals((short) 0x7c00, StreamingSafetensorsWriter.toHalf(65520f), "rounds up to infinity");
        assertEquals((short) 0x0001, StreamingSafetensorsWriter.toHalf(0x1p-24f), "smallest subnormal");
        assertEquals((short) 0x0000, StreamingSafetensorsWriter.toHalf(0x1p-25f), "tie to even: zero");
        assertEquals((short) 0x3c00, StreamingSafetensorsWriter.toHalf(1f + 0x1p-11f), "tie to even: down");
        assertEquals((short) 0x3c02, StreamingSafetensorsWriter.toHalf(1f + 0x3p-11f), "tie to even: up");
        assertEquals((short) 0x3f80, StreamingSafetensorsWriter.toBFloat16(1f));
        assertEquals((short) 0x3f80, StreamingSafetensorsWriter.toBFloat16(1f + 0x1p-8f), "tie to even: down");
        assertEquals((short) 0x3f82, StreamingSafetensorsWriter.toBFloat16(1f + 0x3p-8f), "tie to even: up");
        assertEquals((short) 0xbf80, StreamingSafetensorsWriter.toBFloat16(-1f));
    }

    @Test
    void theBackendLoadsTheHalfFilesAndSamplingStaysFinite() {
        Path folder = SyntheticModel.ensure(dir.resolve("f16"), "model", SyntheticModel.WeightType.F16, false,
                file -> { });
        try (Suppressor suppressor = Suppressor.builder().modelFolder(folder).backend("djl").build()) {
            SuppressionResult result = suppressor.generate(SuppressionRequest.builder("a man without glasses")
                    .suppress("glasses").steps(4).itoIterations(1).seed(7).build());
            for (Tensor tensor : List.of(result.originalLatent(), result.suppressedLatent(), result.suppressedImage())) {
                for (int i = 0; i < tensor.size(); i++) {
                    assertTrue(Float.isFinite(tensor.get(i)), "element " + i + " is " + tensor.get(i));
                }
            }
        }
    }

    @Test
    void refusesToOverwriteAFolderItDidNotWrite() throws IOException {
        Path occupied = Files.createDirectories(dir.resolve("occupied"));
        Files.writeString(occupied.resolve("notes.txt"), "mine");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> SyntheticModel.ensure(
                occupied, "model", SyntheticModel.WeightType.F32, false, file -> { }));
        assertTrue(error.getMessage().contains("occupied"), error.getMessage());
        try (Stream<Path> entries = Files.list(dir)) {
            assertEquals(List.of(occupied), entries.toList(), "nothing was written beside it");
        }
    }

    private static long mismatch(Path a, Path b) {
        try {
            return Files.mismatch(a, b);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void anSdxlFolderHasBothTextEncodersAndTokenizersAndItsUNetRunsWithTextTimeConditioning() throws IOException {
        Path sdxl = SyntheticModel.ensure(dir.resolve("sdxl"), "tiny-sdxl", SyntheticModel.WeightType.BF16, false,
                file -> { });
        for (String file : List.of("model_index.json", "text_encoder/model.safetensors",
                "text_encoder_2/model.safetensors", "unet/diffusion_pytorch_model.safetensors",
                "vae/diffusion_pytorch_model.safetensors", "tokenizer/vocab.json", "tokenizer_2/vocab.json",
                "tokenizer_2/merges.txt")) {
            assertTrue(Files.isRegularFile(sdxl.resolve(file)), file);
        }
        assertTrue(Files.readString(sdxl.resolve("tokenizer_2/special_tokens_map.json"))
                .contains("\"pad_token\": \"!\""), "tokenizer_2 pads with '!'");
        assertTrue(Files.readString(sdxl.resolve("model_index.json")).contains("\"force_zeros_for_empty_prompt\": true"));
        try (SafetensorsFile encoder2 = SafetensorsFile.open(sdxl.resolve("text_encoder_2/model.safetensors"))) {
            // CLIPTextModelWithProjection's projection, bias-free, as SDXL's text_encoder_2 has it
            assertArrayEquals(new int[] {32, 32}, encoder2.tensor("text_projection.weight").shape());
        }

        int[] ids = new int[77];
        ids[0] = 49406;
        java.util.Arrays.fill(ids, 1, 77, 49407);
        try (DjlTextEncoder encoder2 = DjlTextEncoder.open(sdxl.resolve("text_encoder_2"), ai.djl.Device.cpu());
             DjlDenoiser unet = DjlDenoiser.open(sdxl.resolve("unet"), ai.djl.Device.cpu(),
                     UNetDescription.PredictionType.EPSILON)) {
            PooledTextEncoding encoded = encoder2.encodeWithPooled(ids, 2);
            Tensor pooled = Tensor.concat(encoded.pooled().reshape(1, 32), encoded.pooled().reshape(1, 32));
            Tensor contexts = Tensor.zeros(2, 77, 48);
            Tensor latents = Tensor.zeros(2, 4, 16, 16);
            Tensor noise = unet.denoise(latents, 501, contexts, new TextTimeConditioning(pooled,
                    TextTimeConditioning.sdxlTimeIds(2, 128, 128, 0, 0, 128, 128)), null).noisePrediction();
            assertArrayEquals(new int[] {2, 4, 16, 16}, noise.shape());
            for (float value : noise.toArray()) {
                assertTrue(Float.isFinite(value), "finite noise prediction");
            }
        }
    }
}
