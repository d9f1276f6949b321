package dev.suppress.core.text;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A prompt as the text encoder receives it (ALGORITHM.md §1): {@code [bos, w_1 ... w_k, eos, pad ...]}, padded to
 * {@code maxLength} (77) positions, with at most {@code maxLength - 2} prompt tokens.
 *
 * <p>{@code n = length()} counts bos, the prompt tokens and the closing eos, so prompt tokens sit at indices
 * {@code 1 .. n-2} and eos/padding rows at {@code n-1 .. maxLength-1}. The reference takes
 * {@code n = len(tokenizer.encode(prompt))} without truncation, which exceeds 77 for a prompt of more than 75 tokens
 * (and then leaves SWR no eos rows); here {@code n} is capped at {@code maxLength}, and {@link #untruncatedLength()}
 * gives the reference's value.
 *
 * <p>Arrays are copied on the way in and out: instances are immutable.
 *
 * @param prompt       the text as given
 * @param inputIds     token ids {@code [maxLength]}: the {@code input_ids} of
 *                     {@code tokenizer(prompt, padding="max_length", max_length=77, truncation=True)}
 * @param length       {@code n}, the number of ids before the padding, in {@code 2 .. maxLength}
 * @param tokens       the vocabulary strings of {@code inputIds[0 .. n-1]} (see {@link ClipTokenizer#tokenString})
 * @param truncatedIds the ids of the prompt tokens that truncation removed, in order; empty when the prompt fits
 */
public record TokenizedPrompt(String prompt, int[] inputIds, int length, List<String> tokens, int[] truncatedIds) {

    /** Checks the invariants above and copies the arrays and the list. */
    public TokenizedPrompt {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(inputIds, "inputIds");
        Objects.requireNonNull(tokens, "tokens");
        Objects.requireNonNull(truncatedIds, "truncatedIds");
        if (length < 2 || length > inputIds.length) {
            throw new IllegalArgumentException("length " + length + " must be in 2.." + inputIds.length
                    + " (bos and eos at least, at most the " + inputIds.length + " input ids)");
        }
        if (tokens.size() != length) {
            throw new IllegalArgumentException(tokens.size() + " token strings for length " + length);
        }
        if (truncatedIds.length > 0 && length != inputIds.length) {
            throw new IllegalArgumentException("A truncated prompt fills all " + inputIds.length
                    + " positions; length is " + length);
        }
        inputIds = inputIds.clone();
        tokens = List.copyOf(tokens);
        truncatedIds = truncatedIds.clone();
    }

    /** A copy of the padded token ids {@code [maxLength]}. */
    @Override
    public int[] inputIds() {
        return inputIds.clone();
    }

    /** A copy of the ids that truncation removed (empty when the prompt fits). */
    @Override
    public int[] truncatedIds() {
        return truncatedIds.clone();
    }

    /** The id at one position {@code 0 .. maxLength-1}, without copying the array. */
    public int inputId(int position) {
        return inputIds[position];
    }

    /** The number of positions, 77 for CLIP. */
    public int maxLength() {
        return inputIds.length;
    }

    /** Whether the prompt had more than {@code maxLength - 2} tokens, so that some were dropped. */
    public boolean truncated() {
        return truncatedIds.length > 0;
    }

    /** The reference's {@code n = len(tokenizer.encode(prompt))}: {@link #length()} plus the truncated tokens. */
    public int untruncatedLength() {
        return length + truncatedIds.length;
    }

    /** The number of prompt tokens kept, {@code n - 2}, at indices {@code 1 .. n-2}. */
    public int promptTokenCount() {
        return length - 2;
    }

    /** Equal when every component is, the arrays compared by content. */
    @Override
    public boolean equals(Object other) {
        return other instanceof TokenizedPrompt that && prompt.equals(that.prompt) && length == that.length
                && Arrays.equals(inputIds, that.inputIds) && tokens.equals(that.tokens)
                && Arrays.equals(truncatedIds, that.truncatedIds);
    }

    /** A hash of the components, the arrays by content. */
    @Override
    public int hashCode() {
        return Objects.hash(prompt, length, Arrays.hashCode(inputIds), tokens, Arrays.hashCode(truncatedIds));
    }

    /** The prompt, {@code n}, the token strings and how many tokens truncation removed. */
    @Override
    public String toString() {
        return "TokenizedPrompt[prompt=" + prompt + ", n=" + length + ", tokens=" + tokens
                + (truncated() ? ", truncated " + truncatedIds.length + " tokens" : "") + "]";
    }
}
