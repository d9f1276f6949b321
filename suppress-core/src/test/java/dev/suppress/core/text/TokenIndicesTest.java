package dev.suppress.core.text;

import dev.suppress.core.internal.text.TokenIndices;

import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link TokenIndices} on the fixture model's tokenizer. The expected indices follow the token lists of
 * {@code tokenizer/cases.json} and the reference's {@code token_indices} (MANIFEST.md: "a man without glasses" ->
 * glasses = 4; README prompt -> glasses = 7; swr fixture p2 uses [4, 5, 6] for "Van Gogh Style").
 */
class TokenIndicesTest {

    private static final String README_PROMPT = "A man with a beard wearing glasses and a hat in blue shirt";
    private static final String LONG_PROMPT = "a red car, a blue car, a green car, a yellow car, a purple car, an "
            + "orange car, a white car, a black car, a pink car, a brown car, a grey car, a silver car, a gold car, a "
            + "cyan car, a magenta car, a teal car, a beige car and a navy car parked in a very long row";

    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void load() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    static Stream<Arguments> words() {
        return Stream.of(
                Arguments.of("a man without glasses", "glasses", new int[] {4}),
                Arguments.of("a man without glasses", "GLASSES", new int[] {4}),
                Arguments.of(README_PROMPT, "glasses", new int[] {7}),
                Arguments.of(README_PROMPT, "a", new int[] {1, 4, 9}),
                Arguments.of(README_PROMPT, "blue shirt", new int[] {12, 13}),
                Arguments.of("A dog in Van Gogh Style", "Van Gogh", new int[] {4, 5}),
                Arguments.of("A dog in Van Gogh Style", "van gogh style", new int[] {4, 5, 6}),
                Arguments.of("don't stop believin'", "believin", new int[] {4, 5}),
                Arguments.of("don't stop believin'", "don't", new int[] {1, 2}),
                Arguments.of("supercalifragilisticexpialidocious antidisestablishmentarianism",
                        "antidisestablishmentarianism", new int[] {10, 11, 12, 13, 14, 15}),
                Arguments.of("glasses glasses glasses", "glasses", new int[] {1, 2, 3}),
                Arguments.of("the the the", "the the", new int[] {1, 2, 3}),
                Arguments.of("glasses", "glasses", new int[] {1}),
                Arguments.of("smart \u201cquotes\u201d", "\"quotes\"", new int[] {2, 3, 4}),
                Arguments.of(LONG_PROMPT, "parked", new int[] {73}),
                Arguments.of(LONG_PROMPT, "navy car", new int[] {71, 72}),
                Arguments.of("cat ".repeat(74) + "glasses", "glasses", new int[] {75}));
    }

    @ParameterizedTest(name = "''{1}'' in ''{0}''")
    @MethodSource("words")
    void resolvesEveryOccurrence(String prompt, String word, int[] expected) {
        assertArrayEquals(expected, TokenIndices.resolve(tokenizer, tokenizer.tokenize(prompt), word),
                () -> "indices of '" + word + "' in '" + prompt + "'");
    }

    @Test
    void mergesSeveralWordsAscendingWithoutDuplicates() {
        TokenizedPrompt prompt = tokenizer.tokenize("A dog in Van Gogh Style");
        assertArrayEquals(new int[] {2, 4, 5},
                TokenIndices.resolveAll(tokenizer, prompt, List.of("gogh", "dog", "van gogh")));
        assertArrayEquals(new int[0], TokenIndices.resolveAll(tokenizer, prompt, List.of()));
    }

    @Test
    void rejectsAWordNotInThePromptListingItsTokens() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolve(tokenizer, tokenizer.tokenize("a man without glasses"), "hat"));
        assertMessage(error, "'hat'", "hat</w>", "not in the prompt", "1:a</w> 2:man</w> 3:without</w> 4:glasses</w>");
    }

    @Test
    void matchesWholeBpeWordsOnly() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolve(tokenizer, tokenizer.tokenize("a man without glasses"), "glass"));
        assertMessage(error, "'glass'", "not in the prompt");
    }

    @Test
    void namesTheFailingWordOfSeveral() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolveAll(tokenizer, tokenizer.tokenize(README_PROMPT), List.of("hat", "cane")));
        assertMessage(error, "'cane'");
    }

    @ParameterizedTest(name = "''{0}''")
    @MethodSource("truncatedWords")
    void rejectsAWordThatTruncationRemoved(String word) {
        TokenizedPrompt prompt = tokenizer.tokenize(LONG_PROMPT);
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolve(tokenizer, prompt, word));
        assertMessage(error, "'" + word + "'", "truncation", "3 tokens dropped", "75:a</w>");
    }

    static Stream<String> truncatedWords() {
        // The long prompt has 78 tokens; "very long row" (78..80 untruncated, 76..78 here) is cut. "a very" starts
        // in the kept part and ends in the cut part.
        return Stream.of("row", "very long row", "a very");
    }

    @Test
    void rejectsTheSeventySixthTokenOfAPrompt() {
        TokenizedPrompt prompt = tokenizer.tokenize("cat ".repeat(75) + "glasses");
        assertTrue(prompt.truncated());
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolve(tokenizer, prompt, "glasses"));
        assertMessage(error, "'glasses'", "truncation");
    }

    @Test
    void rejectsWordsWithoutTokens() {
        TokenizedPrompt prompt = tokenizer.tokenize("a man without glasses");
        for (String word : List.of("", "   ", "\u0007")) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> TokenIndices.resolve(tokenizer, prompt, word));
            assertMessage(error, "has no tokens");
        }
    }

    @Test
    void rejectsAnyWordOfAnEmptyPrompt() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.resolve(tokenizer, tokenizer.tokenize(""), "glasses"));
        assertMessage(error, "not in the prompt", "(none)");
    }

    @Test
    void validatesExplicitIndicesAndReturnsThemSorted() {
        TokenizedPrompt prompt = tokenizer.tokenize("a man without glasses");
        int[] indices = {4, 2, 4};
        assertArrayEquals(new int[] {2, 4}, TokenIndices.validate(prompt, indices));
        assertArrayEquals(new int[] {4, 2, 4}, indices, "argument must not be modified");
        assertArrayEquals(new int[] {1, 2, 3, 4}, TokenIndices.validate(prompt, new int[] {1, 2, 3, 4}));
    }

    @ParameterizedTest(name = "index {0}")
    @MethodSource("indicesOutsideThePrompt")
    void rejectsIndicesOutsideThePromptTokens(int index) {
        TokenizedPrompt prompt = tokenizer.tokenize("a man without glasses");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.validate(prompt, new int[] {4, index}));
        assertMessage(error, "Token index " + index + " ", "1..4");
    }

    static Stream<Integer> indicesOutsideThePrompt() {
        return Stream.of(0, 5, 76, 77, -1);
    }

    @Test
    void rejectsEveryIndexOfAnEmptyPrompt() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> TokenIndices.validate(tokenizer.tokenize(""), new int[] {1}));
        assertMessage(error, "Token index 1", "no tokens");
        assertEquals(0, TokenIndices.validate(tokenizer.tokenize(""), new int[0]).length);
    }

    private static void assertMessage(IllegalArgumentException error, String... parts) {
        for (String part : parts) {
            assertTrue(error.getMessage().contains(part), () -> "message should contain '" + part + "': "
                    + error.getMessage());
        }
    }
}
