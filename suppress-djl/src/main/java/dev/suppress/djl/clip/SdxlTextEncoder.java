package dev.suppress.djl.clip;

import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/**
 * SDXL's two text encoders as one, as {@code StableDiffusionXLPipeline.encode_prompt} combines them: the per-token
 * embedding is {@code text_encoder}'s and {@code text_encoder_2}'s penultimate hidden states
 * ({@code hidden_states[-2]}) concatenated (768 + 1280 = 2048 wide for SDXL base), and the pooled embedding is
 * {@code text_encoder_2}'s projected [EOT] output.
 *
 * <p>Both tokenizers are the same BPE (checked when opened); they differ in padding: {@code tokenizer} pads with
 * [EOT], {@code tokenizer_2} with "!" (id 0). The ids this encoder is given come from {@code tokenizer} (the one
 * core loads); {@code text_encoder_2} gets the same ids with the padding after the first [EOT] replaced by
 * {@code tokenizer_2}'s pad id, which is exactly what {@code tokenizer_2} gives for the prompt. SWR treats every
 * row from the first [EOT] on as [EOT]/padding either way (ALGORITHM.md §1).
 *
 * <p>The last encoding's pooled output is kept, so that {@link #pooled} of the ids just encoded costs no second
 * pass. Safe for concurrent calls.
 */
public final class SdxlTextEncoder implements TextEncoder {

    /** SDXL's {@code hidden_states[-2]}: the penultimate layer's output (no {@code clip_skip}). */
    private static final int FROM_END = 2;

    private final DjlTextEncoder first;
    private final DjlTextEncoder second;
    private final int eosId;
    private final int secondPadId;
    private final boolean zerosWithoutNegativePrompt;
    private Encoded last;

    private record Encoded(int[] ids, Tensor pooled) {
    }

    /**
     * @param first                      {@code text_encoder} (CLIP ViT-L)
     * @param second                     {@code text_encoder_2} (OpenCLIP ViT-bigG with projection)
     * @param eosId                      the [EOT] id
     * @param secondPadId                {@code tokenizer_2}'s pad id
     * @param zerosWithoutNegativePrompt the model index's {@code force_zeros_for_empty_prompt}
     */
    SdxlTextEncoder(DjlTextEncoder first, DjlTextEncoder second, int eosId, int secondPadId,
                    boolean zerosWithoutNegativePrompt) {
        this.first = Objects.requireNonNull(first, "first");
        this.second = Objects.requireNonNull(second, "second");
        this.eosId = eosId;
        this.secondPadId = secondPadId;
        this.zerosWithoutNegativePrompt = zerosWithoutNegativePrompt;
        if (first.maxLength() != second.maxLength()) {
            throw new IllegalArgumentException("text_encoder has " + first.maxLength() + " positions and "
                    + "text_encoder_2 " + second.maxLength());
        }
    }

    /**
     * Combines two opened encoders, reading the padding of {@code folder/tokenizer_2} and checking that it is the
     * same BPE as {@code folder/tokenizer}.
     *
     * @throws ModelFormatException when {@code tokenizer_2}'s vocabulary or merges differ from {@code tokenizer}'s
     */
    public static SdxlTextEncoder of(Path folder, DjlTextEncoder first, DjlTextEncoder second,
                                     boolean zerosWithoutNegativePrompt) {
        Path tokenizer = folder.resolve("tokenizer");
        Path tokenizer2 = folder.resolve("tokenizer_2");
        for (Path file : new Path[] {tokenizer2.resolve("vocab.json"), tokenizer2.resolve("merges.txt")}) {
            if (!Files.isRegularFile(file)) {
                throw new ModelFormatException(file, "SDXL's second tokenizer file is missing: tokenizer_2/"
                        + file.getFileName() + " (the folder has text_encoder_2/)");
            }
        }
        if (!vocabulary(tokenizer.resolve("vocab.json")).equals(vocabulary(tokenizer2.resolve("vocab.json")))
                || !merges(tokenizer.resolve("merges.txt")).equals(merges(tokenizer2.resolve("merges.txt")))) {
            throw new ModelFormatException(tokenizer2, "tokenizer_2's vocabulary or merges differ from tokenizer's; "
                    + "SDXL's two tokenizers share one BPE (they differ only in padding), and this backend tokenizes "
                    + "once");
        }
        ClipTokenizer padding = ClipTokenizer.load(tokenizer2);
        return new SdxlTextEncoder(first, second, padding.eosId(), padding.padId(), zerosWithoutNegativePrompt);
    }

    /** The token-to-id map of a {@code vocab.json}, whatever its formatting. */
    private static java.util.Map<String, Integer> vocabulary(Path file) {
        try {
            return new com.fasterxml.jackson.databind.ObjectMapper().readValue(file.toFile(),
                    new com.fasterxml.jackson.core.type.TypeReference<java.util.Map<String, Integer>>() { });
        } catch (IOException e) {
            throw new ModelFormatException(file, "Cannot read the vocabulary: " + e.getMessage());
        }
    }

    /** The merge rules of a {@code merges.txt}: its lines without the {@code #version} header and blank lines. */
    private static java.util.List<String> merges(Path file) {
        try {
            return Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8).stream()
                    .map(String::strip).filter(line -> !line.isEmpty() && !line.startsWith("#version")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + file, e);
        }
    }

    /** {@code [77, M1 + M2]}: both encoders' penultimate hidden states side by side. */
    @Override
    public Tensor encode(int[] tokenIds) {
        return encode(tokenIds, 0);
    }

    /**
     * {@code clip_skip} as diffusers' SDXL pipeline applies it: both encoders' {@code hidden_states[-(clipSkip + 2)]},
     * no final norm; the pooled embedding stays the last layer's.
     *
     * @throws IllegalArgumentException when {@code clipSkip} is negative or leaves no layer of either encoder
     */
    @Override
    public Tensor encode(int[] tokenIds, int clipSkip) {
        int layers = Math.min(first.layers(), second.layers());
        // hidden_states has num_hidden_layers + 1 entries, the embeddings' output first
        if (clipSkip < 0 || clipSkip + FROM_END > layers + 1) {
            throw new IllegalArgumentException("clipSkip " + clipSkip + " leaves no layer: SDXL takes "
                    + "hidden_states[-(clipSkip + 2)], and its shallower text encoder has " + layers + " layers (clip "
                    + "skip must be at most " + (layers + 1 - FROM_END) + ")");
        }
        Tensor a = first.encodeWithPooled(tokenIds, FROM_END + clipSkip).hiddenStates();
        PooledTextEncoding b = second.encodeWithPooled(secondIds(tokenIds), FROM_END + clipSkip);
        synchronized (this) {
            last = new Encoded(tokenIds.clone(), b.pooled());
        }
        return sideBySide(a, b.hiddenStates());
    }

    /** {@code text_encoder_2}'s projected pooled output {@code [P]} for the prompt. */
    @Override
    public Optional<Tensor> pooled(int[] tokenIds) {
        synchronized (this) {
            if (last != null && Arrays.equals(last.ids(), tokenIds)) {
                return Optional.of(last.pooled());
            }
        }
        return Optional.of(second.encodeWithPooled(secondIds(tokenIds), FROM_END).pooled());
    }

    @Override
    public boolean zerosWithoutNegativePrompt() {
        return zerosWithoutNegativePrompt;
    }

    @Override
    public int hiddenSize() {
        return first.hiddenSize() + second.hiddenSize();
    }

    @Override
    public int maxLength() {
        return first.maxLength();
    }

    /** The ids {@code tokenizer_2} gives: {@code tokenIds} with {@code tokenizer_2}'s pad after the first [EOT]. */
    int[] secondIds(int[] tokenIds) {
        int[] ids = tokenIds.clone();
        int end = -1;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == eosId) {
                end = i;
                break;
            }
        }
        if (end >= 0) {
            Arrays.fill(ids, end + 1, ids.length, secondPadId);
        }
        return ids;
    }

    private static Tensor sideBySide(Tensor a, Tensor b) {
        int rows = a.dim(0);
        int widthA = a.dim(1);
        int widthB = b.dim(1);
        float[] left = a.toArray();
        float[] right = b.toArray();
        float[] out = new float[rows * (widthA + widthB)];
        for (int row = 0; row < rows; row++) {
            System.arraycopy(left, row * widthA, out, row * (widthA + widthB), widthA);
            System.arraycopy(right, row * widthB, out, row * (widthA + widthB) + widthA, widthB);
        }
        return Tensor.wrapOwned(out, rows, widthA + widthB);
    }

    /** Closes both encoders, the second even when the first fails. */
    @Override
    public void close() {
        try {
            first.close();
        } finally {
            second.close();
        }
    }

    @Override
    public String toString() {
        return "SdxlTextEncoder[" + first + ", " + second + "]";
    }
}
