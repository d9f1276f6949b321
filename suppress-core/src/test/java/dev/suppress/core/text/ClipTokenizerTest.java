package dev.suppress.core.text;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@link ClipTokenizer} against {@code tokenizer/cases.json}: transformers' slow CLIPTokenizer (ftfy 6.1.1 installed)
 * on the fixture model's tokenizer files, every case its own test. Ids are exact: there is no tolerance.
 */
class ClipTokenizerTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int SD2_PAD_ID = 0;
    /** The id of "!!!</w>" in the CLIP vocabulary. */
    private static final int EXCLAMATIONS_WORD_ID = 995;

    private static ClipTokenizer tokenizer;
    private static JsonNode fixture;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = ClipTokenizer.load(tokenizerDir());
        fixture = JSON.readTree(Fixtures.path("tokenizer/cases.json").toFile());
    }

    private static Path tokenizerDir() {
        return Fixtures.tinyModel().resolve("tokenizer");
    }

    @Test
    void readsSpecialTokensAndLengthOfTheFixtureTokenizer() {
        assertEquals(fixture.get("bos").asInt(), tokenizer.bosId(), "bos id");
        assertEquals(fixture.get("eos").asInt(), tokenizer.eosId(), "eos id");
        assertEquals(fixture.get("pad").asInt(), tokenizer.padId(), "pad id");
        assertEquals(fixture.get("model_max_length").asInt(), tokenizer.maxLength(), "model_max_length");
        assertEquals(fixture.get("vocab_size").asInt(), tokenizer.vocabSize(), "vocab size");
    }

    @TestFactory
    Stream<DynamicTest> reproducesEveryFixtureCase() {
        JsonNode cases = fixture.get("cases");
        assertTrue(cases.size() > 0, "cases.json has no cases");
        return IntStream.range(0, cases.size()).mapToObj(i -> {
            JsonNode c = cases.get(i);
            String prompt = c.get("prompt").asText();
            return DynamicTest.dynamicTest("case " + i + ": " + abbreviate(prompt), () -> checkCase(c, prompt));
        });
    }

    private static void checkCase(JsonNode c, String prompt) {
        int[] expectedEncode = ints(c.get("encode"));
        int[] encode = tokenizer.encode(prompt);
        assertIds("encode", prompt, expectedEncode, encode);

        TokenizedPrompt tokenized = tokenizer.tokenize(prompt);
        assertIds("input_ids", prompt, ints(c.get("input_ids")), tokenized.inputIds());

        // The reference n is len(encode) untruncated; ours caps at 77 (see TokenizedPrompt).
        int referenceN = c.get("n").asInt();
        assertEquals(referenceN, encode.length, () -> "len(encode) vs reference n for '" + prompt + "'");
        assertEquals(referenceN, tokenized.untruncatedLength(), () -> "untruncatedLength for '" + prompt + "'");
        assertEquals(Math.min(referenceN, tokenizer.maxLength()), tokenized.length(),
                () -> "length n for '" + prompt + "'");
        assertEquals(referenceN > tokenizer.maxLength(), tokenized.truncated(), () -> "truncated for '" + prompt
                + "'");
        int attended = 0;
        for (JsonNode bit : c.get("attention_mask")) {
            attended += bit.asInt();
        }
        assertEquals(attended, tokenized.length(), () -> "length vs sum(attention_mask) for '" + prompt + "'");

        List<String> expectedTokens = strings(c.get("tokens"));
        List<String> tokenStrings = new ArrayList<>();
        for (int id : encode) {
            tokenStrings.add(tokenizer.tokenString(id));
        }
        assertEquals(expectedTokens, tokenStrings, () -> "token strings of '" + prompt + "'");

        List<String> expectedKept = new ArrayList<>(expectedTokens.subList(0, tokenized.length() - 1));
        expectedKept.add("<|endoftext|>");
        assertEquals(expectedKept, tokenized.tokens(), () -> "TokenizedPrompt.tokens of '" + prompt + "'");

        List<String> expectedDecoded = strings(c.get("decoded_tokens"));
        List<String> decoded = new ArrayList<>();
        for (int id : encode) {
            decoded.add(tokenizer.decode(id));
        }
        assertEquals(expectedDecoded, decoded, () -> "decoded tokens of '" + prompt + "'");
    }

    @Test
    void truncatesToSeventySixTokensAndEndOfText() {
        String prompt = "cat ".repeat(80);
        TokenizedPrompt tokenized = tokenizer.tokenize(prompt);
        int[] ids = tokenized.inputIds();
        assertEquals(77, tokenized.length());
        assertEquals(tokenizer.eosId(), ids[76], "last position");
        assertEquals(80 - 75, tokenized.truncatedIds().length, "dropped prompt tokens");
        assertEquals(82, tokenizer.encode(prompt).length, "encode is untruncated");
    }

    @Test
    void fillsExactlyWithSeventyFivePromptTokens() {
        TokenizedPrompt tokenized = tokenizer.tokenize("cat ".repeat(75));
        assertEquals(77, tokenized.length());
        assertFalse(tokenized.truncated());
        assertEquals(tokenizer.eosId(), tokenized.inputId(76));
    }

    @Test
    void padsWithExclamationMarkForAnSd2Config(@TempDir Path dir) throws IOException {
        Path sd2 = copyVocabAndMerges(dir);
        // The SD 2.x tokenizer_config.json and special_tokens_map.json both name "!" as the pad token.
        Files.writeString(sd2.resolve(TokenizerFiles.CONFIG), "{\"model_max_length\": 77, \"pad_token\": \"!\","
                + " \"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<|startoftext|>\"},"
                + " \"tokenizer_class\": \"CLIPTokenizer\"}");
        Files.writeString(sd2.resolve(TokenizerFiles.SPECIAL_TOKENS_MAP), "{\"pad_token\": \"!\"}");
        ClipTokenizer sd2Tokenizer = ClipTokenizer.load(sd2);
        assertEquals(SD2_PAD_ID, sd2Tokenizer.padId());

        int[] expected = new int[77];
        int[] prompt = {49406, 320, 786, 2193, 6116, 49407};
        System.arraycopy(prompt, 0, expected, 0, prompt.length);
        assertIds("input_ids", "a man without glasses", expected,
                sd2Tokenizer.tokenize("a man without glasses").inputIds());
        assertEquals(6, sd2Tokenizer.tokenize("a man without glasses").length());
    }

    @Test
    void splitsTheSd2PadTokenOutOfTheTextAsTransformersDoes(@TempDir Path dir) throws IOException {
        // diffusers issue #4153: with pad_token "!", every '!' of the prompt becomes the added token "!" (id 0)
        // instead of joining BPE words such as "!!!</w>" (id 995).
        Path sd2 = copyVocabAndMerges(dir);
        Files.writeString(sd2.resolve(TokenizerFiles.CONFIG), "{\"pad_token\": \"!\"}");
        ClipTokenizer sd2Tokenizer = ClipTokenizer.load(sd2);
        int hello = tokenizer.encode("hello")[1];
        int comma = tokenizer.encode(",")[1];
        int world = tokenizer.encode("world")[1];
        assertIds("encode", "Hello, World!!!", new int[] {49406, hello, comma, world, 0, 0, 0, 49407},
                sd2Tokenizer.encode("Hello, World!!!"));
        assertIds("encode", "Hello, World!!! (SD 1.x)", new int[] {49406, hello, comma, world, EXCLAMATIONS_WORD_ID, 49407},
                tokenizer.encode("Hello, World!!!"));
    }

    @Test
    void specialTokensMapOverridesTokenizerConfig(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.CONFIG), "{\"pad_token\": \"<|endoftext|>\"}");
        Files.writeString(folder.resolve(TokenizerFiles.SPECIAL_TOKENS_MAP),
                "{\"pad_token\": {\"content\": \"!\", \"lstrip\": false}}");
        assertEquals(SD2_PAD_ID, ClipTokenizer.load(folder).padId());
    }

    @Test
    void defaultsToSd1SetupWithoutConfigFiles(@TempDir Path dir) throws IOException {
        ClipTokenizer bare = ClipTokenizer.load(copyVocabAndMerges(dir));
        assertEquals(77, bare.maxLength());
        assertEquals(49407, bare.padId());
        assertEquals(49406, bare.bosId());
        assertIds("input_ids", "a man without glasses", tokenizer.tokenize("a man without glasses").inputIds(),
                bare.tokenize("a man without glasses").inputIds());
    }

    @Test
    void readsModelMaxLength(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.CONFIG), "{\"model_max_length\": 10}");
        ClipTokenizer shortTokenizer = ClipTokenizer.load(folder);
        TokenizedPrompt tokenized = shortTokenizer.tokenize("a ".repeat(20));
        assertEquals(10, tokenized.inputIds().length);
        assertEquals(12, tokenized.truncatedIds().length);
        assertEquals(shortTokenizer.eosId(), tokenized.inputId(9));
        assertEquals("a</w>", shortTokenizer.tokenString(tokenized.inputId(8)));
    }

    @Test
    void rejectsAMissingFolder(@TempDir Path dir) {
        assertFormatError(dir.resolve("nope"), "nope", "not a folder");
    }

    @Test
    void rejectsAMissingVocab(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.delete(folder.resolve(TokenizerFiles.VOCAB));
        assertFormatError(folder, "vocab.json", "Missing");
    }

    @Test
    void rejectsAMissingMergesFile(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.delete(folder.resolve(TokenizerFiles.MERGES));
        assertFormatError(folder, "merges.txt", "Missing");
    }

    @Test
    void rejectsMalformedVocabJson(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.VOCAB), "{\"a\": 0, \"b\": ");
        assertFormatError(folder, "vocab.json", "Malformed JSON");
    }

    @Test
    void rejectsANonIntegerVocabId(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.VOCAB), "{\"a\": 0, \"b\": \"one\"}");
        assertFormatError(folder, "vocab.json", "Token 'b' has id one");
    }

    @Test
    void rejectsVocabIdsWithGaps(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.VOCAB), "{\"a\": 0, \"b\": 5}");
        assertFormatError(folder, "vocab.json", "found id 5");
    }

    @Test
    void rejectsMergesWithoutHeader(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.MERGES), "i n\nt h\n");
        assertFormatError(folder, "merges.txt", "#version");
    }

    @Test
    void rejectsAMalformedMergeLine(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.MERGES), "#version: 0.2\ni n\nt h e\n");
        assertFormatError(folder, "merges.txt", "Line 3");
    }

    @Test
    void rejectsMalformedTokenizerConfig(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.CONFIG), "{\"pad_token\": ");
        assertFormatError(folder, "tokenizer_config.json", "Malformed JSON");
    }

    @Test
    void rejectsAnInvalidModelMaxLength(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.CONFIG), "{\"model_max_length\": 1e30}");
        assertFormatError(folder, "tokenizer_config.json", "model_max_length");
    }

    @Test
    void rejectsASpecialTokenOutsideTheVocabulary(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.SPECIAL_TOKENS_MAP), "{\"pad_token\": \"<pad>\"}");
        assertFormatError(folder, "vocab.json", "pad_token '<pad>'");
    }

    @Test
    void rejectsAMalformedSpecialToken(@TempDir Path dir) throws IOException {
        Path folder = writeTinyTokenizer(dir);
        Files.writeString(folder.resolve(TokenizerFiles.SPECIAL_TOKENS_MAP), "{\"eos_token\": {\"lstrip\": true}}");
        assertFormatError(folder, "special_tokens_map.json", "eos_token");
    }

    @Test
    void rejectsAnIdOutsideTheVocabulary() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> tokenizer.tokenString(49408));
        assertTrue(error.getMessage().contains("49408") && error.getMessage().contains("0..49407"),
                error.getMessage());
    }

    private static void assertFormatError(Path folder, String file, String messagePart) {
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> ClipTokenizer.load(folder));
        assertTrue(error.getMessage().contains(file), () -> "message should name " + file + ": "
                + error.getMessage());
        assertTrue(error.getMessage().contains(messagePart), () -> "message should say '" + messagePart + "': "
                + error.getMessage());
    }

    /**
     * A five-token tokenizer folder (no merges): enough to test file handling without parsing the real 49408-token
     * vocabulary each time.
     */
    private static Path writeTinyTokenizer(Path dir) throws IOException {
        Path folder = Files.createDirectories(dir.resolve("tokenizer"));
        Files.writeString(folder.resolve(TokenizerFiles.VOCAB),
                "{\"!\": 0, \"a\": 1, \"a</w>\": 2, \"<|startoftext|>\": 3, \"<|endoftext|>\": 4}");
        Files.writeString(folder.resolve(TokenizerFiles.MERGES), "#version: 0.2\n");
        return folder;
    }

    private static Path copyVocabAndMerges(Path dir) throws IOException {
        Path folder = Files.createDirectories(dir.resolve("tokenizer"));
        Files.copy(tokenizerDir().resolve(TokenizerFiles.VOCAB), folder.resolve(TokenizerFiles.VOCAB));
        Files.copy(tokenizerDir().resolve(TokenizerFiles.MERGES), folder.resolve(TokenizerFiles.MERGES));
        return folder;
    }

    /** Fails with the prompt, the first differing position and both values. */
    static void assertIds(String what, String prompt, int[] expected, int[] actual) {
        int common = Math.min(expected.length, actual.length);
        for (int i = 0; i < common; i++) {
            if (expected[i] != actual[i]) {
                fail(what + " of '" + prompt + "' differs at position " + i + ": expected " + expected[i]
                        + ", got " + actual[i] + "\n expected " + Arrays.toString(expected) + "\n actual   "
                        + Arrays.toString(actual));
            }
        }
        assertArrayEquals(expected, actual, () -> what + " of '" + prompt + "': expected " + expected.length
                + " ids, got " + actual.length);
    }

    private static int[] ints(JsonNode array) {
        int[] values = new int[array.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = array.get(i).asInt();
        }
        return values;
    }

    private static List<String> strings(JsonNode array) {
        List<String> values = new ArrayList<>(array.size());
        array.forEach(node -> values.add(node.asText()));
        return values;
    }

    private static String abbreviate(String text) {
        String escaped = text.replace("\n", "\\n").replace("\t", "\\t");
        return escaped.length() <= 60 ? escaped : escaped.substring(0, 57) + "...";
    }
}
