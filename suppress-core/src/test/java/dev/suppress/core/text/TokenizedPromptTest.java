package dev.suppress.core.text;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link TokenizedPrompt}: invariants and immutability. */
class TokenizedPromptTest {

    private static final List<String> TOKENS = List.of("<|startoftext|>", "a</w>", "<|endoftext|>");

    @Test
    void copiesArraysOnTheWayInAndOut() {
        int[] ids = {49406, 320, 49407, 49407};
        int[] truncated = {};
        TokenizedPrompt prompt = new TokenizedPrompt("a", ids, 3, TOKENS, truncated);
        ids[1] = 0;
        prompt.inputIds()[1] = 0;
        assertEquals(320, prompt.inputId(1));
        assertArrayEquals(new int[] {49406, 320, 49407, 49407}, prompt.inputIds());
        assertEquals(4, prompt.maxLength());
        assertEquals(1, prompt.promptTokenCount());
        assertFalse(prompt.truncated());
        assertEquals(3, prompt.untruncatedLength());
    }

    @Test
    void comparesByContent() {
        TokenizedPrompt first = new TokenizedPrompt("a", new int[] {49406, 320, 49407}, 3, TOKENS, new int[0]);
        TokenizedPrompt second = new TokenizedPrompt("a", new int[] {49406, 320, 49407}, 3, TOKENS, new int[0]);
        assertEquals(first, second);
        assertEquals(first.hashCode(), second.hashCode());
    }

    @Test
    void countsTruncatedTokensIntoTheReferenceLength() {
        TokenizedPrompt prompt = new TokenizedPrompt("a a a", new int[] {49406, 320, 49407}, 3, TOKENS,
                new int[] {320, 320});
        assertTrue(prompt.truncated());
        assertEquals(5, prompt.untruncatedLength());
    }

    @Test
    void rejectsInconsistentParts() {
        int[] ids = {49406, 320, 49407, 49407};
        assertThrows(IllegalArgumentException.class, () -> new TokenizedPrompt("a", ids, 1, List.of("x"), new int[0]));
        assertThrows(IllegalArgumentException.class, () -> new TokenizedPrompt("a", ids, 5, TOKENS, new int[0]));
        assertThrows(IllegalArgumentException.class, () -> new TokenizedPrompt("a", ids, 2, TOKENS, new int[0]));
        assertThrows(IllegalArgumentException.class, () -> new TokenizedPrompt("a", ids, 3, TOKENS, new int[] {1}));
    }
}
