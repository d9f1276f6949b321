package dev.suppress.examples.tiny;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.GZIPInputStream;

/**
 * OpenAI CLIP's tokenizer files from the merges alone: the embedded {@code merges.txt} (see
 * {@code clip-bpe-merges.LICENSE.txt}) and the {@code vocab.json} that CLIP's {@code SimpleTokenizer.__init__}
 * derives from it, written as transformers' {@code CLIPTokenizer.save_vocabulary} writes it.
 */
final class ClipVocabulary {

    /** The embedded merges: a {@code "#version: 0.2"} line, then 48894 merges, one {@code "a b"} pair a line. */
    static final String MERGES_RESOURCE = "clip-bpe-merges.txt.gz";
    static final String LICENSE_RESOURCE = "clip-bpe-merges.LICENSE.txt";

    private static final String START_OF_TEXT = "<|startoftext|>";
    private static final String END_OF_TEXT = "<|endoftext|>";
    private static final String END_OF_WORD = "</w>";

    private ClipVocabulary() {
    }

    /** The bytes of {@code merges.txt}, header line included. */
    static byte[] mergesFile() {
        try (InputStream compressed = ClipVocabulary.class.getResourceAsStream(MERGES_RESOURCE)) {
            if (compressed == null) {
                throw new IllegalStateException("Resource " + MERGES_RESOURCE + " is missing from the class path");
            }
            try (InputStream in = new GZIPInputStream(compressed)) {
                return in.readAllBytes();
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read resource " + MERGES_RESOURCE, e);
        }
    }

    /**
     * The vocabulary in id order, as CLIP's {@code SimpleTokenizer.__init__} builds it: the 256 byte symbols of
     * {@code bytes_to_unicode()}, the same with {@code </w>}, each merge joined, then {@code <|startoftext|>} and
     * {@code <|endoftext|>}.
     *
     * @param mergesFile the bytes of {@code merges.txt}; its first line is a header and is skipped
     */
    static List<String> tokens(byte[] mergesFile) {
        String[] lines = new String(mergesFile, StandardCharsets.UTF_8).split("\n");
        List<String> symbols = byteSymbols();
        List<String> tokens = new ArrayList<>(symbols);
        for (String symbol : symbols) {
            tokens.add(symbol + END_OF_WORD);
        }
        for (int line = 1; line < lines.length; line++) {
            if (!lines[line].isEmpty()) {
                // merge.split() then ''.join(merge): the pair without its separating space
                tokens.add(lines[line].replace(" ", ""));
            }
        }
        tokens.add(START_OF_TEXT);
        tokens.add(END_OF_TEXT);
        return List.copyOf(tokens);
    }

    /**
     * CLIP's {@code bytes_to_unicode()} values in its order: the printable Latin-1 bytes stand for themselves, the
     * other bytes map to {@code 256, 257, ...} in byte order.
     */
    private static List<String> byteSymbols() {
        List<Integer> bytes = new ArrayList<>();
        for (int b = '!'; b <= '~'; b++) {
            bytes.add(b);
        }
        for (int b = '\u00a1'; b <= '\u00ac'; b++) {
            bytes.add(b);
        }
        for (int b = '\u00ae'; b <= '\u00ff'; b++) {
            bytes.add(b);
        }
        List<String> symbols = new ArrayList<>();
        for (int b : bytes) {
            symbols.add(String.valueOf((char) b));
        }
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            if (!bytes.contains(b)) {
                symbols.add(String.valueOf((char) (256 + extra++)));
            }
        }
        return symbols;
    }

    /**
     * {@code vocab.json} as transformers writes it: {@code json.dumps(encoder, indent=2, sort_keys=True,
     * ensure_ascii=False) + "\n"} with token → id.
     *
     * @throws IllegalArgumentException when a token occurs twice
     */
    static String vocabJson(List<String> tokens) {
        // Python sorts str keys by code point; every token here is in the BMP, where String order is the same
        Map<String, Integer> sorted = new TreeMap<>();
        for (int id = 0; id < tokens.size(); id++) {
            if (sorted.put(tokens.get(id), id) != null) {
                throw new IllegalArgumentException("Token '" + tokens.get(id) + "' occurs twice in the vocabulary");
            }
        }
        StringBuilder json = new StringBuilder(tokens.size() * 20).append("{\n");
        String separator = "";
        for (Map.Entry<String, Integer> entry : sorted.entrySet()) {
            json.append(separator).append("  ");
            appendJsonString(json, entry.getKey());
            json.append(": ").append(entry.getValue());
            separator = ",\n";
        }
        return json.append("\n}\n").toString();
    }

    /** A JSON string literal as Python's {@code json} module writes it with {@code ensure_ascii=False}. */
    private static void appendJsonString(StringBuilder json, String text) {
        json.append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> json.append("\\\"");
                case '\\' -> json.append("\\\\");
                case '\n' -> json.append("\\n");
                case '\r' -> json.append("\\r");
                case '\t' -> json.append("\\t");
                case '\b' -> json.append("\\b");
                case '\f' -> json.append("\\f");
                default -> {
                    if (c < 0x20) {
                        json.append(String.format("\\u%04x", (int) c));
                    } else {
                        json.append(c);
                    }
                }
            }
        }
        json.append('"');
    }
}
