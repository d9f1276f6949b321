package dev.suppress.core.text;

import dev.suppress.core.internal.text.TokenIndices;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Fuzzes the tokenizer folder ({@code vocab.json}, {@code merges.txt}, {@code tokenizer_config.json}) together with
 * a prompt: loading either works or throws {@link ModelFormatException}, and a tokenizer that loaded tokenizes any
 * prompt and resolves any word of it without a crash or a hang ({@link IllegalArgumentException} for a word that is
 * not in the prompt).
 *
 * <p>An input is the four parts separated by NUL bytes: vocab, merges, config (empty = absent), then the prompt and
 * the word separated by a further NUL. Seeds in {@code ClipTokenizerFuzzTestInputs/}: a 600-token cut of the fixture
 * vocabulary with the merges among those tokens, and the fixture's own {@code tokenizer_config.json}.
 */
class ClipTokenizerFuzzTest {

    private static Path folder;

    @BeforeAll
    static void createFolder() throws IOException {
        folder = Files.createTempDirectory("fuzz-tokenizer-");
    }

    @AfterAll
    static void deleteFolder() throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path file : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(file);
            }
        }
    }

    @FuzzTest
    @Timeout(10)
    void loadTokenizeAndResolve(byte[] input) throws IOException {
        List<byte[]> parts = split(input, 5);
        write(TokenizerFiles.VOCAB, parts.get(0), true);
        write(TokenizerFiles.MERGES, parts.get(1), true);
        write(TokenizerFiles.CONFIG, parts.get(2), parts.get(2).length > 0);
        ClipTokenizer tokenizer;
        try {
            tokenizer = ClipTokenizer.load(folder);
        } catch (ModelFormatException expected) {
            return;
        }
        String prompt = new String(parts.get(3), StandardCharsets.UTF_8);
        String word = new String(parts.get(4), StandardCharsets.UTF_8);
        TokenizedPrompt tokens = tokenizer.tokenize(prompt);
        for (int index = 0; index < tokens.length(); index++) {
            tokenizer.decode(tokens.inputId(index));
        }
        try {
            TokenIndices.resolve(tokenizer, tokens, word);
        } catch (IllegalArgumentException expected) {
            // a word that is not in the prompt (or blank, or truncated away) is refused by name
        }
    }

    private void write(String name, byte[] content, boolean present) throws IOException {
        Path file = folder.resolve(name);
        if (present) {
            Files.write(file, content);
        } else {
            Files.deleteIfExists(file);
        }
    }

    /** The first {@code count - 1} NUL-separated parts and the rest; missing parts are empty. */
    static List<byte[]> split(byte[] input, int count) {
        List<byte[]> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < input.length && parts.size() < count - 1; i++) {
            if (input[i] == 0) {
                parts.add(java.util.Arrays.copyOfRange(input, start, i));
                start = i + 1;
            }
        }
        parts.add(java.util.Arrays.copyOfRange(input, Math.min(start, input.length), input.length));
        while (parts.size() < count) {
            parts.add(new byte[0]);
        }
        return parts;
    }
}
