package dev.suppress.core.text;


import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The CLIP byte-level BPE tokenizer of Stable Diffusion, in pure Java, read from a diffusers model folder's
 * {@code tokenizer/} directory.
 *
 * <p>Reproduces transformers' slow {@code CLIPTokenizer} with ftfy installed (ALGORITHM.md §1):
 * <ol>
 *   <li>the special tokens (bos, eos, unk and pad; {@code <|startoftext|>}, {@code <|endoftext|>}, and {@code !} for
 *       SD 2.x) are split out of the raw text first, as {@code PreTrainedTokenizer.tokenize} does. For SD 2.x this
 *       turns every {@code !} of a prompt into the pad token, id 0, as diffusers does (diffusers issue #4153);</li>
 *   <li>each remaining piece is cleaned as {@code whitespace_clean(ftfy.fix_text(text)).lower()} (see
 *       {@link Ftfy}; mojibake repair is left out), then split with CLIP's pattern
 *       {@code <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+};</li>
 *   <li>each word is encoded byte-level (UTF-8 bytes mapped by {@code bytes_to_unicode}), its last symbol gets the
 *       {@code </w>} suffix, and BPE merges the adjacent pair of lowest rank until none is left
 *       ({@code CLIPTokenizer.bpe}); the resulting symbols are looked up in the vocabulary (unknown: the unk id).</li>
 * </ol>
 *
 * <p>Immutable apart from an internal BPE cache; safe to share between threads.
 */
public final class ClipTokenizer {

    /** CLIPTokenizer's pattern; the text is already lower-cased, the flags only echo {@code re.IGNORECASE}. */
    private static final Pattern WORDS = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]"
                    + "|[^\\p{IsWhite_Space}\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);

    /** {@code whitespace_clean}: the Python {@code regex} module's {@code \s} is exactly Unicode White_Space. */
    private static final Pattern WHITESPACE = Pattern.compile("\\p{IsWhite_Space}+");

    private static final String END_OF_WORD = "</w>";

    /** The words that {@code CLIPTokenizer.bpe} returns unchanged (its initial cache). */
    private static final String START_OF_TEXT = "<|startoftext|>";
    private static final String END_OF_TEXT = "<|endoftext|>";

    /** Entries of the BPE cache before it is emptied; prompts use a few thousand distinct words at most. */
    private static final int MAX_CACHED_WORDS = 50_000;

    /** {@code bytes_to_unicode}: the character that stands for each byte in the vocabulary. */
    private static final char[] BYTE_TO_CHAR = bytesToUnicode();

    /** The inverse of {@link #BYTE_TO_CHAR}, indexed by character; -1 where a character stands for no byte. */
    private static final int[] CHAR_TO_BYTE = invertBytes(BYTE_TO_CHAR);

    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final Map<String, Integer> mergeRanks;
    private final String[] specialTokens;
    private final int bosId;
    private final int eosId;
    private final int unkId;
    private final int padId;
    private final int maxLength;
    private final Map<String, String[]> bpeCache = new ConcurrentHashMap<>();

    private ClipTokenizer(TokenizerFiles.Contents contents) {
        this.vocab = contents.vocab();
        this.idToToken = contents.idToToken();
        this.mergeRanks = contents.mergeRanks();
        this.bosId = vocab.get(contents.bosToken());
        this.eosId = vocab.get(contents.eosToken());
        this.unkId = vocab.get(contents.unkToken());
        this.padId = vocab.get(contents.padToken());
        this.maxLength = contents.maxLength();
        this.specialTokens = Arrays.stream(new String[] {contents.bosToken(), contents.eosToken(),
                contents.unkToken(), contents.padToken()}).distinct().toArray(String[]::new);
    }

    /**
     * Loads the tokenizer of a diffusers model folder.
     *
     * @param tokenizerDir the model's {@code tokenizer/} folder: {@code vocab.json} and {@code merges.txt} are
     *                     required; {@code tokenizer_config.json} ({@code model_max_length}, special tokens) and
     *                     {@code special_tokens_map.json} (special tokens, taking precedence) are read when present;
     *                     without them the SD 1.x setup applies (77 positions, pad {@code <|endoftext|>})
     * @return the tokenizer, ready for use from any thread
     * @throws dev.suppress.core.io.ModelFormatException naming the file when a file is missing, malformed, or names a
     *                                                special token that is not in the vocabulary
     */
    public static ClipTokenizer load(Path tokenizerDir) {
        return new ClipTokenizer(TokenizerFiles.read(tokenizerDir));
    }

    /**
     * Encodes a prompt without padding or truncation, as {@code tokenizer.encode(prompt)}:
     * {@code [bos, prompt tokens..., eos]}. Its length is the reference's {@code n}, which may exceed
     * {@link #maxLength()}.
     *
     * @param prompt any text; special tokens written in it ({@code <|endoftext|>}) count as those tokens
     * @return a new array of token ids {@code [n]}
     */
    public int[] encode(String prompt) {
        int[] promptIds = tokenIds(prompt);
        int[] ids = new int[promptIds.length + 2];
        ids[0] = bosId;
        System.arraycopy(promptIds, 0, ids, 1, promptIds.length);
        ids[ids.length - 1] = eosId;
        return ids;
    }

    /**
     * Tokenizes a prompt for the text encoder, as
     * {@code tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids}: at most
     * {@code maxLength - 2} prompt tokens between bos and eos, then the pad id up to {@link #maxLength()}.
     *
     * @param prompt any text
     * @return the ids {@code [maxLength]} with {@code n}, the token strings and what truncation removed
     */
    public TokenizedPrompt tokenize(String prompt) {
        int[] full = encode(prompt);
        int[] inputIds = new int[maxLength];
        Arrays.fill(inputIds, padId);
        int length;
        int[] truncatedIds;
        if (full.length <= maxLength) {
            length = full.length;
            System.arraycopy(full, 0, inputIds, 0, length);
            truncatedIds = new int[0];
        } else {
            length = maxLength;
            System.arraycopy(full, 0, inputIds, 0, maxLength - 1);
            inputIds[maxLength - 1] = eosId;
            truncatedIds = Arrays.copyOfRange(full, maxLength - 1, full.length - 1);
        }
        List<String> tokens = new ArrayList<>(length);
        for (int i = 0; i < length; i++) {
            tokens.add(idToToken[inputIds[i]]);
        }
        return new TokenizedPrompt(prompt, inputIds, length, tokens, truncatedIds);
    }

    /**
     * The token ids of a text without bos and eos ({@code tokenizer(text, add_special_tokens=False)}).
     *
     * @param text any text
     * @return a new array, empty when the text has no tokens (blank, or only removed control characters)
     */
    public int[] tokenIds(String text) {
        IntList ids = new IntList(Math.max(8, text.length() / 3));
        int chunkStart = 0;
        int position = 0;
        while (position < text.length()) {
            String special = specialTokenAt(text, position);
            if (special == null) {
                position++;
                continue;
            }
            appendTextIds(text.substring(chunkStart, position), ids);
            ids.add(vocab.get(special));
            position += special.length();
            chunkStart = position;
        }
        appendTextIds(text.substring(chunkStart), ids);
        return ids.toArray();
    }

    /** The longest special token that starts at {@code position}, as transformers' {@code Trie.split} finds it. */
    private String specialTokenAt(String text, int position) {
        String longest = null;
        for (String special : specialTokens) {
            if (text.startsWith(special, position) && (longest == null || special.length() > longest.length())) {
                longest = special;
            }
        }
        return longest;
    }

    /** {@code CLIPTokenizer._tokenize} plus id lookup for text that holds no special token. */
    private void appendTextIds(String text, IntList ids) {
        if (text.isEmpty()) {
            return;
        }
        String cleaned = whitespaceClean(Ftfy.fixText(text)).toLowerCase(Locale.ROOT);
        Matcher words = WORDS.matcher(cleaned);
        while (words.find()) {
            for (String symbol : bpe(byteEncode(words.group()))) {
                ids.add(vocab.getOrDefault(symbol, unkId));
            }
        }
    }

    /** transformers {@code whitespace_clean}: runs of whitespace to one space, then strip. */
    private static String whitespaceClean(String text) {
        String collapsed = WHITESPACE.matcher(text).replaceAll(" ");
        int start = 0;
        int end = collapsed.length();
        while (start < end && collapsed.charAt(start) == ' ') {
            start++;
        }
        while (end > start && collapsed.charAt(end - 1) == ' ') {
            end--;
        }
        return collapsed.substring(start, end);
    }

    /** The word's UTF-8 bytes, each replaced by its {@code bytes_to_unicode} character. */
    private static String byteEncode(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            chars[i] = BYTE_TO_CHAR[bytes[i] & 0xff];
        }
        return new String(chars);
    }

    /** {@code CLIPTokenizer.bpe}, cached per word; the returned array is shared and must not be modified. */
    private String[] bpe(String word) {
        String[] cached = bpeCache.get(word);
        if (cached != null) {
            return cached;
        }
        String[] symbols = word.equals(START_OF_TEXT) || word.equals(END_OF_TEXT)
                ? new String[] {word} : mergeSymbols(word);
        if (bpeCache.size() >= MAX_CACHED_WORDS) {
            bpeCache.clear();
        }
        bpeCache.put(word, symbols);
        return symbols;
    }

    /** Merges the pair of lowest rank, all its left-to-right occurrences at once, until no pair has a rank. */
    private String[] mergeSymbols(String word) {
        int count = word.length();
        String[] symbols = new String[count];
        for (int i = 0; i < count; i++) {
            symbols[i] = String.valueOf(word.charAt(i));
        }
        symbols[count - 1] = symbols[count - 1] + END_OF_WORD;
        while (count > 1) {
            int bestRank = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i + 1 < count; i++) {
                Integer rank = mergeRanks.get(symbols[i] + ' ' + symbols[i + 1]);
                if (rank != null && rank < bestRank) {
                    bestRank = rank;
                    first = symbols[i];
                    second = symbols[i + 1];
                }
            }
            if (first == null) {
                break;
            }
            int merged = 0;
            for (int i = 0; i < count; i++) {
                if (i + 1 < count && symbols[i].equals(first) && symbols[i + 1].equals(second)) {
                    symbols[merged++] = first + second;
                    i++;
                } else {
                    symbols[merged++] = symbols[i];
                }
            }
            count = merged;
        }
        return Arrays.copyOf(symbols, count);
    }

    /**
     * The vocabulary string of a token, as BPE sees it: byte-level characters with the {@code </w>} word end, e.g.
     * {@code "glasses</w>"}, {@code "cafÃ©</w>"}, {@code "<|endoftext|>"}.
     *
     * @param id a token id
     * @return the string that {@code vocab.json} maps to {@code id}
     * @throws IllegalArgumentException when {@code id} is not in {@code 0 .. vocabSize() - 1}
     */
    public String tokenString(int id) {
        if (id < 0 || id >= idToToken.length) {
            throw new IllegalArgumentException("Token id " + id + " is outside the vocabulary 0.."
                    + (idToToken.length - 1));
        }
        return idToToken[id];
    }

    /**
     * A token for display, as {@code tokenizer.convert_tokens_to_string([token])}: the bytes decoded as UTF-8 (an
     * incomplete character becomes U+FFFD), {@code </w>} dropped, e.g. {@code "glasses"}, {@code "café"}.
     *
     * @param id a token id
     * @return the readable text of the token
     * @throws IllegalArgumentException when {@code id} is not in {@code 0 .. vocabSize() - 1}
     */
    public String decode(int id) {
        String token = tokenString(id);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(token.length());
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
            if (b >= 0) {
                bytes.write(b);
            } else {
                // Not a byte-level character (no CLIP vocabulary has one): show it as it is.
                bytes.writeBytes(String.valueOf(c).getBytes(StandardCharsets.UTF_8));
            }
        }
        return bytes.toString(StandardCharsets.UTF_8).replace(END_OF_WORD, " ").strip();
    }

    /** The number of positions a tokenized prompt fills ({@code model_max_length}, 77 for CLIP). */
    public int maxLength() {
        return maxLength;
    }

    /** The id of the start-of-text token {@code <|startoftext|>} (49406 for CLIP). */
    public int bosId() {
        return bosId;
    }

    /** The id of the end-of-text token {@code <|endoftext|>} (49407 for CLIP). */
    public int eosId() {
        return eosId;
    }

    /** The id that pads a prompt to {@link #maxLength()}: 49407 for SD 1.x, 0 ({@code !}) for SD 2.x. */
    public int padId() {
        return padId;
    }

    /** The number of tokens in the vocabulary (49408 for CLIP). */
    public int vocabSize() {
        return idToToken.length;
    }

    private static int[] invertBytes(char[] byteToChar) {
        int[] table = new int[256 + 256];
        Arrays.fill(table, -1);
        for (int b = 0; b < byteToChar.length; b++) {
            table[byteToChar[b]] = b;
        }
        return table;
    }

    /**
     * transformers {@code bytes_to_unicode}: printable Latin-1 bytes ({@code !..~}, {@code ¡..¬}, {@code ®..ÿ}) stand
     * for themselves, the other 68 bytes, in order, for U+0100, U+0101, ...
     */
    private static char[] bytesToUnicode() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
            table[b] = (char) (printable ? b : next++);
        }
        return table;
    }

    /** A growable {@code int[]}, to keep boxing out of the tokenizing loop. */
    private static final class IntList {
        private int[] values;
        private int size;

        IntList(int capacity) {
            values = new int[capacity];
        }

        void add(int value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }
}
