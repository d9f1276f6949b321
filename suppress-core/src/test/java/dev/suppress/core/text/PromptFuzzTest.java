package dev.suppress.core.text;

import dev.suppress.core.internal.text.TokenIndices;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Fuzzes prompts and suppressed words against the fixture's real CLIP tokenizer (49408 tokens): text cleaning
 * (ftfy), BPE, truncation to 77 positions and word resolution never crash or hang; a word that is not in the
 * prompt, blank or truncated away is an {@link IllegalArgumentException}, and resolved indices lie inside the
 * prompt. An input is the prompt, a NUL, then the words separated by NULs. Seeds: the prompts of the fixture's
 * {@code tokenizer/cases.json}.
 */
class PromptFuzzTest {

    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void loadTokenizer() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    @FuzzTest
    @Timeout(10)
    void tokenizeAndResolve(byte[] input) {
        List<byte[]> parts = ClipTokenizerFuzzTest.split(input, 4);
        String prompt = new String(parts.get(0), StandardCharsets.UTF_8);
        TokenizedPrompt tokens = tokenizer.tokenize(prompt);
        if (tokens.inputIds().length != tokenizer.maxLength()) {
            throw new AssertionError("input ids are " + tokens.inputIds().length + " long, not "
                    + tokenizer.maxLength() + ", for " + prompt);
        }
        for (int w = 1; w < parts.size(); w++) {
            String word = new String(parts.get(w), StandardCharsets.UTF_8);
            int[] indices;
            try {
                indices = TokenIndices.resolve(tokenizer, tokens, word);
            } catch (IllegalArgumentException expected) {
                continue;
            }
            for (int index : indices) {
                if (index < 1 || index > tokens.length() - 2) {
                    throw new AssertionError("word '" + word + "' resolved to index " + index + " outside the "
                            + "prompt's tokens 1.." + (tokens.length() - 2) + " of '" + prompt + "'");
                }
            }
        }
    }
}
