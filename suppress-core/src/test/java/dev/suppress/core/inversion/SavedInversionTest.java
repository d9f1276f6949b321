package dev.suppress.core.inversion;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SavedInversionTest {

    @TempDir
    Path dir;

    private static Tensor ramp(float start, int... shape) {
        float[] values = new float[Arrays.stream(shape).reduce(1, Math::multiplyExact)];
        for (int i = 0; i < values.length; i++) {
            values[i] = start + i * 0.37f - (float) Math.sin(i);
        }
        return Tensor.of(values, shape);
    }

    private static Map<String, String> fingerprint(String steps) {
        return Map.of("model", "sha256:abc", "photo", "sha256:def", "prompt", "a cat", "steps", steps,
                "guidance", "7.5", "size", "16x16");
    }

    private static SavedInversion nullText(int steps) {
        List<Tensor> embeddings = new java.util.ArrayList<>();
        for (int i = 0; i < steps; i++) {
            embeddings.add(ramp(i, 1, 3, 8));
        }
        return new SavedInversion(ramp(-1, 1, 4, 2, 2), Inversion.NULL_TEXT, embeddings,
                fingerprint(String.valueOf(steps)));
    }

    @Test
    void aWrittenNullTextInversionReadsBackBitForBit() {
        SavedInversion saved = nullText(3);
        Path file = dir.resolve("inv.safetensors");
        saved.write(file);
        SavedInversion read = SavedInversion.read(file);
        assertEquals(Inversion.NULL_TEXT, read.method());
        assertEquals(saved.fingerprint(), read.fingerprint());
        assertArrayEquals(saved.inverted().shape(), read.inverted().shape());
        assertArrayEquals(saved.inverted().toArray(), read.inverted().toArray());
        assertEquals(3, read.unconditionals().size());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(saved.unconditionals().get(i).toArray(), read.unconditionals().get(i).toArray());
        }
        read.requireFingerprint(file, Inversion.NULL_TEXT, fingerprint("3"));
    }

    @Test
    void aNegativePromptInversionHoldsOneEmbedding() {
        Path file = dir.resolve("npi.safetensors");
        new SavedInversion(ramp(0, 1, 4, 2, 2), Inversion.NEGATIVE_PROMPT, List.of(ramp(2, 1, 3, 8)),
                fingerprint("5")).write(file);
        SavedInversion read = SavedInversion.read(file);
        assertEquals(Inversion.NEGATIVE_PROMPT, read.method());
        assertEquals(1, read.unconditionals().size());
        assertThrows(IllegalArgumentException.class, () -> new SavedInversion(ramp(0, 1, 4, 2, 2),
                Inversion.NEGATIVE_PROMPT, List.of(ramp(2, 1, 3, 8), ramp(3, 1, 3, 8)), fingerprint("5")));
    }

    @Test
    void aMismatchNamesTheFieldAndBothValues() {
        Path file = dir.resolve("inv.safetensors");
        nullText(3).write(file);
        SavedInversion read = SavedInversion.read(file);
        IllegalArgumentException steps = assertThrows(IllegalArgumentException.class,
                () -> read.requireFingerprint(file, Inversion.NULL_TEXT, fingerprint("25")));
        assertEquals("The inversion file " + file + " was made with steps 3, this edit asks for 25",
                steps.getMessage());
        Map<String, String> otherPrompt = new java.util.HashMap<>(fingerprint("3"));
        otherPrompt.put("prompt", "a dog");
        IllegalArgumentException prompt = assertThrows(IllegalArgumentException.class,
                () -> read.requireFingerprint(file, Inversion.NULL_TEXT, otherPrompt));
        assertTrue(prompt.getMessage().contains("prompt a cat, this edit asks for a dog"), prompt.getMessage());
        IllegalArgumentException method = assertThrows(IllegalArgumentException.class,
                () -> read.requireFingerprint(file, Inversion.NEGATIVE_PROMPT, fingerprint("3")));
        assertTrue(method.getMessage().contains("inversion NULL_TEXT, this edit asks for NEGATIVE_PROMPT"),
                method.getMessage());
    }

    @Test
    void aMalformedFileNamesTheFileAndTheTensor() {
        Path noMethod = dir.resolve("plain.safetensors");
        SafetensorsWriter.write(noMethod, Map.of("inverted", ramp(0, 1, 4, 2, 2)));
        ModelFormatException plain = assertThrows(ModelFormatException.class, () -> SavedInversion.read(noMethod));
        assertTrue(plain.getMessage().contains("plain.safetensors"), plain.getMessage());

        Path badShape = dir.resolve("shape.safetensors");
        SafetensorsWriter.write(badShape, Map.of("inverted", ramp(0, 1, 3, 2, 2), "unconditional.0",
                ramp(0, 1, 3, 8)), Map.of("inversion", "NULL_TEXT"));
        ModelFormatException shape = assertThrows(ModelFormatException.class, () -> SavedInversion.read(badShape));
        assertTrue(shape.getMessage().contains("'inverted'") && shape.getMessage().contains("shape.safetensors"),
                shape.getMessage());

        Path noEmbedding = dir.resolve("none.safetensors");
        SafetensorsWriter.write(noEmbedding, Map.of("inverted", ramp(0, 1, 4, 2, 2)),
                Map.of("inversion", "NEGATIVE_PROMPT"));
        ModelFormatException none = assertThrows(ModelFormatException.class, () -> SavedInversion.read(noEmbedding));
        assertTrue(none.getMessage().contains("'unconditional.0'"), none.getMessage());
    }

    @Test
    void tensorsBesideTheInversionAreLeftAlone() {
        Path file = dir.resolve("latents.safetensors");
        SavedInversion saved = nullText(2);
        saved.write(file, Map.of("original", ramp(5, 1, 4, 2, 2), "suppressed", ramp(6, 1, 4, 2, 2)));
        SavedInversion read = SavedInversion.read(file);
        assertArrayEquals(saved.inverted().toArray(), read.inverted().toArray());
        assertEquals(2, read.unconditionals().size());
        assertEquals(file, read.source().orElseThrow());
        assertTrue(saved.source().isEmpty());
        assertThrows(IllegalArgumentException.class, () -> saved.write(file, Map.of("unconditional.9",
                ramp(0, 1, 3, 8))));

        Path extra = dir.resolve("extra.safetensors");
        SafetensorsWriter.write(extra, Map.of("inverted", ramp(0, 1, 4, 2, 2), "unconditional.0", ramp(0, 1, 3, 8),
                "unconditional.1", ramp(0, 1, 3, 8)), Map.of("inversion", "NEGATIVE_PROMPT"));
        ModelFormatException tooMany = assertThrows(ModelFormatException.class, () -> SavedInversion.read(extra));
        assertTrue(tooMany.getMessage().contains("'unconditional.1'"), tooMany.getMessage());
    }

    @Test
    void shapesThatDoNotFitTheEditAreNamed() {
        SavedInversion saved = nullText(3);
        saved.requireShapes(null, new int[] {1, 4, 2, 2}, new int[] {1, 3, 8}, 3);
        IllegalArgumentException latent = assertThrows(IllegalArgumentException.class,
                () -> saved.requireShapes(null, new int[] {1, 4, 4, 4}, new int[] {1, 3, 8}, 3));
        assertEquals("The saved inversion holds tensor 'inverted' of shape [1, 4, 2, 2], this edit starts from a "
                + "latent of shape [1, 4, 4, 4]", latent.getMessage());
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> saved.requireShapes(null, new int[] {1, 4, 2, 2}, new int[] {1, 3, 8}, 4));
        assertTrue(count.getMessage().contains("holds 3 'unconditional.<step>' tensors"), count.getMessage());
        IllegalArgumentException embedding = assertThrows(IllegalArgumentException.class,
                () -> saved.requireShapes(null, new int[] {1, 4, 2, 2}, new int[] {77, 8}, 3));
        assertTrue(embedding.getMessage().contains("'unconditional.0' of shape [1, 3, 8]"), embedding.getMessage());
    }
}
