package dev.suppress.examples.tiny;

import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The tokenizer files of the built-in model against the fixture model's, which transformers wrote. */
class ClipVocabularyTest {

    @Test
    void embeddedMergesAreClipsMergesFile() throws IOException {
        assertArrayEquals(Files.readAllBytes(Fixtures.path("tiny-sd/tokenizer/merges.txt")),
                ClipVocabulary.mergesFile());
    }

    @Test
    void derivedVocabularyIsTransformersVocabJsonByteForByte() throws IOException {
        List<String> tokens = ClipVocabulary.tokens(ClipVocabulary.mergesFile());
        assertEquals(49408, tokens.size());
        assertEquals("<|endoftext|>", tokens.get(49407));
        assertEquals(Files.readString(Fixtures.path("tiny-sd/tokenizer/vocab.json"), StandardCharsets.UTF_8),
                ClipVocabulary.vocabJson(tokens));
    }
}
