package dev.suppress.djl.clip;

import ai.djl.Device;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.djl.TinySdxlFolder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code clip_skip} as diffusers' SD and SDXL pipelines apply it. */
class ClipSkipTest {

    private static final String PROMPT = "a man without glasses";

    @TempDir
    Path dir;

    @Test
    void sdSkipsLayersThenAppliesTheFinalLayerNorm() {
        Path folder = Fixtures.tinyModel();
        int[] ids = ClipTokenizer.load(folder.resolve("tokenizer")).tokenize(PROMPT).inputIds();
        try (DjlTextEncoder encoder = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu());
             SafetensorsFile weights = SafetensorsFile.open(folder.resolve("text_encoder/model.safetensors"))) {
            assertArrayEquals(encoder.encode(ids).toArray(), encoder.encode(ids, 0).toArray());
            // final_layer_norm(hidden_states[-2]), the norm computed here from the file's weights
            float[] penultimate = encoder.encodeWithPooled(ids, 2).hiddenStates().toArray();
            float[] gain = weights.floats("text_model.final_layer_norm.weight");
            float[] bias = weights.floats("text_model.final_layer_norm.bias");
            float[] skipped = encoder.encode(ids, 1).toArray();
            int width = encoder.hiddenSize();
            double worst = 0;
            for (int row = 0; row < ids.length; row++) {
                double mean = 0;
                for (int c = 0; c < width; c++) {
                    mean += penultimate[row * width + c];
                }
                mean /= width;
                double variance = 0;
                for (int c = 0; c < width; c++) {
                    double d = penultimate[row * width + c] - mean;
                    variance += d * d;
                }
                variance /= width;
                for (int c = 0; c < width; c++) {
                    double expected = (penultimate[row * width + c] - mean) / Math.sqrt(variance + 1e-5) * gain[c]
                            + bias[c];
                    worst = Math.max(worst, Math.abs(expected - skipped[row * width + c]));
                }
            }
            assertTrue(worst < 1e-4, "max abs difference " + worst);
            assertFalse(java.util.Arrays.equals(skipped, encoder.encode(ids).toArray()), "skipping changes it");
            IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class,
                    () -> encoder.encode(ids, 3));
            assertTrue(tooMany.getMessage().startsWith("clipSkip 3 leaves no layer: this text encoder has 2"),
                    tooMany.getMessage());
        }
    }

    @Test
    void sdxlTakesHiddenStatesMinusSkipPlusTwoOfBothEncodersAndKeepsThePooledOutput() {
        Path folder = TinySdxlFolder.write(Fixtures.tinyModel(), dir.resolve("sdxl"));
        int[] ids = ClipTokenizer.load(folder.resolve("tokenizer")).tokenize(PROMPT).inputIds();
        try (DjlTextEncoder first = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu());
             DjlTextEncoder second = DjlTextEncoder.open(folder.resolve("text_encoder_2"), Device.cpu())) {
            SdxlTextEncoder encoder = SdxlTextEncoder.of(folder, first, second, true);
            Tensor pooled = encoder.pooled(ids).orElseThrow();
            Tensor skipped = encoder.encode(ids, 1);
            float[] a = first.encodeWithPooled(ids, 3).hiddenStates().toArray();
            float[] b = second.encodeWithPooled(encoder.secondIds(ids), 3).hiddenStates().toArray();
            int wa = first.hiddenSize();
            int wb = second.hiddenSize();
            float[] all = skipped.toArray();
            for (int row = 0; row < ids.length; row++) {
                for (int c = 0; c < wa; c++) {
                    assertEquals(a[row * wa + c], all[row * (wa + wb) + c], 0f);
                }
                for (int c = 0; c < wb; c++) {
                    assertEquals(b[row * wb + c], all[row * (wa + wb) + wa + c], 0f);
                }
            }
            assertArrayEquals(pooled.toArray(), encoder.pooled(ids).orElseThrow().toArray(),
                    "the pooled embedding is the last layer's whatever the skip");
            // the tiny text_encoder has 2 layers: hidden_states[-3] (skip 1) is its embeddings' output, nothing earlier
            IllegalArgumentException tooMany = assertThrows(IllegalArgumentException.class,
                    () -> encoder.encode(ids, 1 + 1));
            assertTrue(tooMany.getMessage().contains("clip skip must be at most"), tooMany.getMessage());
        }
    }
}
