package dev.suppress.core.internal.text;

import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Words to negative-target token indices (ALGORITHM.md §1), the step the reference left to its users: in
 * {@code "a man without glasses"} the word {@code "glasses"} is index 4.
 *
 * <p>A word (or phrase) is tokenized alone, without bos and eos, by the prompt's tokenizer, so it is lower-cased and
 * cleaned the same way, and every contiguous occurrence of its token sequence among the prompt tokens
 * {@code 1 .. n-2} is a match. A word that BPE splits gives all of its tokens ({@code "Van Gogh"} in
 * {@code "A dog in Van Gogh Style"} is {@code [4, 5]}); a repeated word gives every occurrence. Words match whole
 * BPE words: {@code "glass"} does not match {@code "glasses"}.
 *
 * <p>Results are ascending and without duplicates. The order of negative rows does not change SWR (§2): permuting
 * the columns of χ permutes those of χ̂ alike.
 */
public final class TokenIndices {

    private TokenIndices() {
    }

    /**
     * The indices of every occurrence of one word.
     *
     * @param tokenizer the tokenizer that produced {@code prompt}
     * @param prompt    the tokenized prompt
     * @param word      a word or phrase, case-insensitive
     * @return ascending indices in {@code 1 .. n-2}, at least one
     * @throws IllegalArgumentException when the word has no tokens, does not occur in the prompt (the message lists
     *                                  the prompt's tokens), or occurs only in the part that truncation removed
     */
    public static int[] resolve(ClipTokenizer tokenizer, TokenizedPrompt prompt, String word) {
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(word, "word");
        int[] wordIds = tokenizer.tokenIds(word);
        if (wordIds.length == 0) {
            throw new IllegalArgumentException("Word '" + word + "' has no tokens (it is empty, or only spaces"
                    + " and control characters); expected a word of the prompt '" + prompt.prompt() + "'");
        }
        int[] sequence = promptTokenSequence(prompt);
        int kept = prompt.promptTokenCount();
        boolean[] marked = new boolean[kept];
        int markedCount = 0;
        boolean matchesPastTruncation = false;
        for (int start = 0; start + wordIds.length <= sequence.length; start++) {
            if (!matchesAt(sequence, start, wordIds)) {
                continue;
            }
            if (start + wordIds.length > kept) {
                matchesPastTruncation = true;
                continue;
            }
            for (int k = start; k < start + wordIds.length; k++) {
                if (!marked[k]) {
                    marked[k] = true;
                    markedCount++;
                }
            }
        }
        if (markedCount == 0) {
            throw new IllegalArgumentException(matchesPastTruncation
                    ? truncatedMessage(tokenizer, prompt, word, wordIds)
                    : notFoundMessage(tokenizer, prompt, word, wordIds));
        }
        int[] indices = new int[markedCount];
        int next = 0;
        for (int k = 0; k < kept; k++) {
            if (marked[k]) {
                indices[next++] = k + 1;
            }
        }
        return indices;
    }

    /**
     * The indices of every occurrence of each word, merged.
     *
     * @param tokenizer the tokenizer that produced {@code prompt}
     * @param prompt    the tokenized prompt
     * @param words     words or phrases, case-insensitive; not modified
     * @return ascending distinct indices in {@code 1 .. n-2}; empty when {@code words} is empty
     * @throws IllegalArgumentException as {@link #resolve(ClipTokenizer, TokenizedPrompt, String)}, for the first
     *                                  word that fails
     */
    public static int[] resolveAll(ClipTokenizer tokenizer, TokenizedPrompt prompt, List<String> words) {
        Objects.requireNonNull(words, "words");
        int[][] perWord = new int[words.size()][];
        for (int w = 0; w < perWord.length; w++) {
            perWord[w] = resolve(tokenizer, prompt, words.get(w));
        }
        return union(perWord);
    }

    /**
     * Checks explicit token indices, as the reference's {@code --token_indices} takes them.
     *
     * @param prompt  the tokenized prompt
     * @param indices prompt-token indices; not modified
     * @return the indices ascending and without duplicates
     * @throws IllegalArgumentException naming the first index outside {@code 1 .. n-2} and that range
     */
    public static int[] validate(TokenizedPrompt prompt, int[] indices) {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(indices, "indices");
        int last = prompt.length() - 2;
        for (int index : indices) {
            if (index < 1 || index > last) {
                String range = last < 1 ? "none: the prompt has no tokens" : "1.." + last;
                throw new IllegalArgumentException("Token index " + index + " is not a prompt token of '"
                        + prompt.prompt() + "' (n = " + prompt.length() + "); valid indices: " + range
                        + " (0 is the start token, " + (last + 1) + ".." + (prompt.maxLength() - 1)
                        + " end/padding). Prompt tokens: " + listTokens(prompt));
            }
        }
        return union(new int[][] {indices});
    }

    /** The prompt-token ids kept ({@code inputIds[1 .. n-2]}) followed by those truncation removed. */
    private static int[] promptTokenSequence(TokenizedPrompt prompt) {
        int kept = prompt.promptTokenCount();
        int[] removed = prompt.truncatedIds();
        int[] sequence = new int[kept + removed.length];
        for (int k = 0; k < kept; k++) {
            sequence[k] = prompt.inputId(k + 1);
        }
        System.arraycopy(removed, 0, sequence, kept, removed.length);
        return sequence;
    }

    private static boolean matchesAt(int[] sequence, int start, int[] wordIds) {
        for (int k = 0; k < wordIds.length; k++) {
            if (sequence[start + k] != wordIds[k]) {
                return false;
            }
        }
        return true;
    }

    private static int[] union(int[][] arrays) {
        int total = 0;
        for (int[] array : arrays) {
            total += array.length;
        }
        int[] all = new int[total];
        int offset = 0;
        for (int[] array : arrays) {
            System.arraycopy(array, 0, all, offset, array.length);
            offset += array.length;
        }
        Arrays.sort(all);
        int distinct = 0;
        for (int i = 0; i < all.length; i++) {
            if (i == 0 || all[i] != all[i - 1]) {
                all[distinct++] = all[i];
            }
        }
        return Arrays.copyOf(all, distinct);
    }

    private static String notFoundMessage(ClipTokenizer tokenizer, TokenizedPrompt prompt, String word,
                                          int[] wordIds) {
        return "Word '" + word + "' " + describeTokens(tokenizer, wordIds) + " is not in the prompt '"
                + prompt.prompt() + "'. Prompt tokens: " + listTokens(prompt);
    }

    private static String truncatedMessage(ClipTokenizer tokenizer, TokenizedPrompt prompt, String word,
                                           int[] wordIds) {
        return "Word '" + word + "' " + describeTokens(tokenizer, wordIds) + " occurs in the prompt '"
                + prompt.prompt() + "' only after its first " + prompt.promptTokenCount() + " tokens: truncation"
                + " to " + prompt.maxLength() + " positions removed it (" + prompt.truncatedIds().length
                + " tokens dropped). Shorten the prompt or move the word forward. Kept tokens: "
                + listTokens(prompt);
    }

    private static String describeTokens(ClipTokenizer tokenizer, int[] ids) {
        StringBuilder out = new StringBuilder("(tokens ");
        for (int k = 0; k < ids.length; k++) {
            out.append(k == 0 ? "" : " ").append(tokenizer.tokenString(ids[k]));
        }
        return out.append(')').toString();
    }

    /** {@code 1:a</w> 2:man</w> ...}, the vocabulary strings with their indices. */
    private static String listTokens(TokenizedPrompt prompt) {
        if (prompt.promptTokenCount() == 0) {
            return "(none)";
        }
        StringBuilder out = new StringBuilder();
        List<String> tokens = prompt.tokens();
        for (int k = 1; k <= prompt.promptTokenCount(); k++) {
            out.append(k == 1 ? "" : " ").append(k).append(':').append(tokens.get(k));
        }
        return out.toString();
    }
}
