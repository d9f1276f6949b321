package dev.suppress.core.text;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Reads the files of a diffusers {@code tokenizer/} folder, as transformers' {@code CLIPTokenizer.from_pretrained}
 * does: {@code vocab.json}, {@code merges.txt}, and the special tokens and {@code model_max_length} of
 * {@code tokenizer_config.json} overridden by {@code special_tokens_map.json}, both optional.
 */
final class TokenizerFiles {

    static final String VOCAB = "vocab.json";
    static final String MERGES = "merges.txt";
    static final String CONFIG = "tokenizer_config.json";
    static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";

    /**
     * transformers' {@code CLIPTokenizer.__init__} keeps the merges of lines {@code 1 .. 49152 - 256 - 2} (the size
     * of OpenAI's CLIP vocabulary less the 256 byte symbols and 2 special tokens).
     */
    static final int MAX_MERGES = 49152 - 256 - 2;

    /** Used when {@code tokenizer_config.json} has no {@code model_max_length}: the 77 positions of CLIP. */
    static final int DEFAULT_MAX_LENGTH = 77;

    /** A sanity bound on {@code model_max_length}; CLIP text encoders have 77 positions. */
    static final int LARGEST_MAX_LENGTH = 1 << 16;

    private static final ObjectMapper JSON = new ObjectMapper();

    /** Token strings are map keys used once: interning 49408 of them only costs time. */
    private static final JsonFactory VOCAB_PARSERS = JsonFactory.builder()
            .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
            .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
            .build();

    /** What a tokenizer folder says. */
    record Contents(Map<String, Integer> vocab, String[] idToToken, Map<String, Integer> mergeRanks,
                    String bosToken, String eosToken, String unkToken, String padToken, int maxLength) {
    }

    private TokenizerFiles() {
    }

    static Contents read(Path tokenizerDir) {
        if (!Files.isDirectory(tokenizerDir)) {
            throw new ModelFormatException(tokenizerDir, "Tokenizer folder does not exist or is not a folder; "
                    + "expected the tokenizer/ folder of a diffusers model with " + VOCAB + " and " + MERGES);
        }
        Path vocabFile = tokenizerDir.resolve(VOCAB);
        Map<String, Integer> vocab = readVocab(vocabFile);
        String[] idToToken = invert(vocab, vocabFile);
        Map<String, Integer> mergeRanks = readMerges(tokenizerDir.resolve(MERGES));

        // CLIPTokenizer.__init__ defaults; tokenizer_config.json overrides them, special_tokens_map.json overrides both.
        String[] special = {"<|startoftext|>", "<|endoftext|>", "<|endoftext|>", "<|endoftext|>"};
        String[] keys = {"bos_token", "eos_token", "unk_token", "pad_token"};
        int maxLength = DEFAULT_MAX_LENGTH;
        Path configFile = tokenizerDir.resolve(CONFIG);
        JsonNode config = readOptionalJson(configFile);
        if (config != null) {
            readSpecialTokens(config, keys, special, configFile);
            maxLength = readMaxLength(config, configFile);
        }
        Path mapFile = tokenizerDir.resolve(SPECIAL_TOKENS_MAP);
        JsonNode map = readOptionalJson(mapFile);
        if (map != null) {
            readSpecialTokens(map, keys, special, mapFile);
        }
        for (int k = 0; k < keys.length; k++) {
            if (!vocab.containsKey(special[k])) {
                throw new ModelFormatException(vocabFile, keys[k] + " '" + special[k] + "' (from " + CONFIG + ", "
                        + SPECIAL_TOKENS_MAP + " or the CLIPTokenizer default) is not in the vocabulary");
            }
        }
        return new Contents(vocab, idToToken, mergeRanks, special[0], special[1], special[2], special[3], maxLength);
    }

    /** Streams {@code vocab.json} (a flat object token -> id, 49408 entries for CLIP). */
    private static Map<String, Integer> readVocab(Path file) {
        Map<String, Integer> vocab = new HashMap<>(1 << 17);
        try (JsonParser parser = VOCAB_PARSERS.createParser(file.toFile())) {
            if (parser.nextToken() != JsonToken.START_OBJECT) {
                throw new ModelFormatException(file, "Expected a JSON object mapping token strings to ids");
            }
            for (JsonToken token = parser.nextToken(); token != JsonToken.END_OBJECT; token = parser.nextToken()) {
                String tokenString = parser.currentName();
                if (parser.nextToken() != JsonToken.VALUE_NUMBER_INT || !parser.getNumberType().equals(
                        JsonParser.NumberType.INT)) {
                    throw new ModelFormatException(file, "Token '" + tokenString + "' has id " + parser.getText()
                            + "; expected an integer id");
                }
                int id = parser.getIntValue();
                if (id < 0) {
                    throw new ModelFormatException(file, "Token '" + tokenString + "' has negative id " + id);
                }
                if (vocab.put(tokenString, id) != null) {
                    throw new ModelFormatException(file, "Token '" + tokenString + "' appears twice");
                }
            }
            if (parser.nextToken() != null) {
                throw new ModelFormatException(file, "Unexpected content after the vocabulary object");
            }
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, "Missing tokenizer file " + VOCAB, e);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "Malformed JSON in " + VOCAB + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            if (!Files.exists(file)) {
                throw new ModelFormatException(file, "Missing tokenizer file " + VOCAB, e);
            }
            throw new ModelFormatException(file, "Cannot read " + VOCAB + ": " + e.getMessage(), e);
        }
        if (vocab.isEmpty()) {
            throw new ModelFormatException(file, "The vocabulary is empty");
        }
        return vocab;
    }

    private static String[] invert(Map<String, Integer> vocab, Path file) {
        int maxId = 0;
        for (int id : vocab.values()) {
            maxId = Math.max(maxId, id);
        }
        if (maxId >= vocab.size()) {
            throw new ModelFormatException(file, "Token ids must be 0.." + (vocab.size() - 1) + " for "
                    + vocab.size() + " tokens; found id " + maxId);
        }
        String[] idToToken = new String[vocab.size()];
        for (Map.Entry<String, Integer> entry : vocab.entrySet()) {
            int id = entry.getValue();
            if (idToToken[id] != null) {
                throw new ModelFormatException(file, "Tokens '" + idToToken[id] + "' and '" + entry.getKey()
                        + "' share id " + id);
            }
            idToToken[id] = entry.getKey();
        }
        return idToToken;
    }

    /**
     * Reads {@code merges.txt}: a {@code #version} header line, then one merge per line, two symbols separated by a
     * space; the rank of a merge is its position. As in transformers, only lines 2 .. {@link #MAX_MERGES} + 1 are
     * used, and a pair listed twice keeps its later rank.
     */
    private static Map<String, Integer> readMerges(Path file) {
        Map<String, Integer> ranks = new HashMap<>(1 << 17);
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try (BufferedReader reader = new BufferedReader(
                new InputStreamReader(Files.newInputStream(file), decoder))) {
            String header = reader.readLine();
            if (header == null || !header.startsWith("#version")) {
                throw new ModelFormatException(file, "Line 1 must be the '#version: 0.2' header; found "
                        + (header == null ? "an empty file" : "'" + abbreviate(header) + "'"));
            }
            int lineNumber = 1;
            for (String line = reader.readLine(); line != null && lineNumber <= MAX_MERGES;
                 line = reader.readLine()) {
                lineNumber++;
                String pair = mergePair(line);
                if (pair == null) {
                    if (line.isBlank()) {
                        continue;
                    }
                    throw new ModelFormatException(file, "Line " + lineNumber + ": expected two symbols separated"
                            + " by a space; found '" + abbreviate(line) + "'");
                }
                ranks.put(pair, lineNumber - 2);
            }
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, "Missing tokenizer file " + MERGES, e);
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file, MERGES + " is not valid UTF-8", e);
        } catch (IOException e) {
            throw new ModelFormatException(file, "Cannot read " + MERGES + ": " + e.getMessage(), e);
        }
        return ranks;
    }

    /**
     * A merge line as {@code "first second"} (Python's {@code line.split()} into exactly two symbols, joined by one
     * space), or {@code null} when it does not hold exactly two symbols.
     */
    private static String mergePair(String line) {
        int start = 0;
        int end = line.length();
        while (start < end && Character.isWhitespace(line.charAt(start))) {
            start++;
        }
        while (end > start && Character.isWhitespace(line.charAt(end - 1))) {
            end--;
        }
        int firstEnd = start;
        while (firstEnd < end && !Character.isWhitespace(line.charAt(firstEnd))) {
            firstEnd++;
        }
        int secondStart = firstEnd;
        while (secondStart < end && Character.isWhitespace(line.charAt(secondStart))) {
            secondStart++;
        }
        if (firstEnd == start || secondStart == end) {
            return null;
        }
        for (int i = secondStart; i < end; i++) {
            if (Character.isWhitespace(line.charAt(i))) {
                return null;
            }
        }
        boolean canonical = start == 0 && end == line.length() && secondStart == firstEnd + 1
                && line.charAt(firstEnd) == ' ';
        return canonical ? line : line.substring(start, firstEnd) + ' ' + line.substring(secondStart, end);
    }

    private static JsonNode readOptionalJson(Path file) {
        if (!Files.exists(file)) {
            return null;
        }
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new ModelFormatException(file, "Expected a JSON object");
            }
            return node;
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "Malformed JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ModelFormatException(file, "Cannot read: " + e.getMessage(), e);
        }
    }

    /** A special token is a string or an {@code AddedToken} object with a {@code content} string. */
    private static void readSpecialTokens(JsonNode json, String[] keys, String[] values, Path file) {
        for (int k = 0; k < keys.length; k++) {
            if (!json.has(keys[k])) {
                continue;
            }
            JsonNode node = json.get(keys[k]);
            JsonNode content = node.isObject() ? node.get("content") : node;
            if (content == null || !content.isTextual() || content.asText().isEmpty()) {
                throw new ModelFormatException(file, keys[k] + " must be a non-empty string or an object with a "
                        + "'content' string; found " + node);
            }
            values[k] = content.asText();
        }
    }

    private static int readMaxLength(JsonNode config, Path file) {
        JsonNode node = config.get("model_max_length");
        if (node == null) {
            return DEFAULT_MAX_LENGTH;
        }
        if (!node.canConvertToInt() || !node.isIntegralNumber() || node.asInt() < 2
                || node.asInt() > LARGEST_MAX_LENGTH) {
            throw new ModelFormatException(file, "model_max_length must be an integer in 2.." + LARGEST_MAX_LENGTH
                    + " (77 for CLIP); found " + node);
        }
        return node.asInt();
    }

    private static String abbreviate(String text) {
        return text.length() <= 80 ? text : text.substring(0, 77) + "...";
    }
}
