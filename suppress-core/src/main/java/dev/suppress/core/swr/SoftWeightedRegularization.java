package dev.suppress.core.swr;

import dev.suppress.core.tensor.Tensor;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

import java.util.Arrays;
import java.util.Objects;

/**
 * Soft-weighted regularization (SWR, ALGORITHM.md §2): removes a negative word's content from a text embedding
 * by shrinking the large singular values of the matrix made of the negative tokens' rows and every [EOT] row.
 *
 * <p>For an embedding {@code c} of shape {@code [77, M]}, prompt length {@code n} (SOT and first EOT counted) and
 * negative token indices {@code T}: the rows {@code R = T ++ [n-1, …, 76]} ({@link #regularizedRows}) form
 * {@code χ = c[R]ᵀ} ({@code M × k}, {@code k = |R|}); with the SVD {@code χ = U Σ Vᵀ} and singular values sorted
 * descending, the {@link Variant} maps {@code Σ} to {@code Σ̂}, and {@code χ̂ᵀ = (U Σ̂ Vᵀ)ᵀ} replaces rows
 * {@code R}. Every other row is copied unchanged. The reference ({@code wo_utils.woword_eot_context}) needs
 * {@code k ≤ M}; the economy SVD used here has {@code min(M, k)} components and also handles {@code k > M}.
 *
 * <p>The SVD and the reconstruction run in float64 (EJML); the reference uses a float32 {@code torch.linalg.svd},
 * so results agree with it to about 1e-5 of the embedding's scale, not bit for bit.
 *
 * <p>Thread-safety: an instance keeps one EJML decomposition and reuses its storage between calls, so
 * {@link #apply} is {@code synchronized}; concurrent callers wait for each other. Use one instance per thread to
 * run them in parallel.
 */
public final class SoftWeightedRegularization {

    /** Rows of a CLIP text embedding. */
    public static final int SEQUENCE_LENGTH = 77;

    /**
     * The reference's switch to strengthening: {@code soft-weight} with {@code alpha == -0.001} exactly (a float
     * equality in {@code wo_utils.punish_wight}) computes {@link Variant#STRENGTHEN} instead.
     */
    public static final double STRENGTHEN_ALPHA = -0.001;

    /** {@code σ̂ = σ · exp(0.001 σ) · 1.2} (ALGORITHM.md §2, the paper's Appendix F). */
    private static final double STRENGTHEN_RATE = 0.001;
    private static final double STRENGTHEN_GAIN = 1.2;

    /** The ways to regularize; the reference's {@code method} argument, plus strengthening made explicit. */
    public enum Variant {
        /** {@code soft-weight}: {@code σ̂_j = σ_j · exp(−α σ_j)}; the method of the paper, {@code α = 1} by default. */
        SOFT_WEIGHT,
        /** Strengthening ("generate/add subject"): {@code σ̂_j = σ_j · exp(0.001 σ_j) · 1.2}; alpha is not used. */
        STRENGTHEN,
        /** {@code alpha}: zero the top {@code ⌊k·α⌋} singular values. */
        ALPHA,
        /** {@code beta}: zero every singular value from index {@code ⌊k·α⌋} on. */
        BETA,
        /** {@code delete}: drop the top {@code ⌊k·α⌋} components (everything when {@code ⌊k·α⌋ ≥ k}). */
        DELETE,
        /** {@code weight}: {@code χ̂ = α · χ}, no SVD (in float32, as the reference multiplies). */
        WEIGHT
    }

    private final Variant variant;
    private final double alpha;
    private final SingularValueDecomposition_F64<DMatrixRMaj> svd =
            DecompositionFactory_DDRM.svd(true, true, true);

    /**
     * @param variant the regularization
     * @param alpha   its parameter: finite; at least 0 for {@link Variant#SOFT_WEIGHT} (or exactly
     *                {@link #STRENGTHEN_ALPHA}, the reference's strengthening switch), {@link Variant#ALPHA},
     *                {@link Variant#BETA} and {@link Variant#DELETE}; ignored by {@link Variant#STRENGTHEN}
     * @throws IllegalArgumentException when alpha is out of range for the variant
     */
    public SoftWeightedRegularization(Variant variant, double alpha) {
        this.variant = Objects.requireNonNull(variant, "variant");
        if (!Double.isFinite(alpha)) {
            throw new IllegalArgumentException("SWR alpha must be finite, found " + alpha);
        }
        boolean needsNonNegative = variant == Variant.ALPHA || variant == Variant.BETA || variant == Variant.DELETE
                || (variant == Variant.SOFT_WEIGHT && alpha != STRENGTHEN_ALPHA);
        if (needsNonNegative && alpha < 0) {
            throw new IllegalArgumentException("SWR variant " + variant + " needs alpha >= 0, found " + alpha
                    + (variant == Variant.SOFT_WEIGHT ? "; use Variant.STRENGTHEN to strengthen a word" : ""));
        }
        this.alpha = alpha;
    }

    /** The paper's soft weighting {@code σ · exp(−α σ)}; {@code α = 1} is the default of ALGORITHM.md §2. */
    public static SoftWeightedRegularization softWeight(double alpha) {
        return new SoftWeightedRegularization(Variant.SOFT_WEIGHT, alpha);
    }

    /** Strengthening, {@code σ · exp(0.001 σ) · 1.2}; same result as {@code softWeight(-0.001)}. */
    public static SoftWeightedRegularization strengthen() {
        return new SoftWeightedRegularization(Variant.STRENGTHEN, STRENGTHEN_ALPHA);
    }

    /** The variant as constructed ({@code softWeight(-0.001)} reports {@link Variant#SOFT_WEIGHT}). */
    public Variant variant() {
        return variant;
    }

    /** The variant's parameter as constructed. */
    public double alpha() {
        return alpha;
    }

    /** What is actually computed: the reference's float-equality quirk turns soft-weight at -0.001 into strengthening. */
    private Variant effectiveVariant() {
        return variant == Variant.SOFT_WEIGHT && alpha == STRENGTHEN_ALPHA ? Variant.STRENGTHEN : variant;
    }

    /**
     * The rows that SWR rewrites: the negative token indices in the given order, then every [EOT]/padding row
     * {@code n-1 … 76} (reference: {@code token_indices + range(n-1, 77)}).
     *
     * @param tokenIndices negative prompt-token indices, each in {@code [1, n-2]}, no repeats; not modified
     * @param promptLength n, the unpadded encoding length including SOT and the first EOT, in {@code [2, 77]}
     * @return a new array of {@code |tokenIndices| + 78 - n} row indices
     * @throws IllegalArgumentException when n or an index is out of range, or an index repeats
     */
    public static int[] regularizedRows(int[] tokenIndices, int promptLength) {
        if (promptLength < 2 || promptLength > SEQUENCE_LENGTH) {
            throw new IllegalArgumentException("Prompt length n = " + promptLength + " outside [2, "
                    + SEQUENCE_LENGTH + "] (n counts [SOT], the prompt tokens and the first [EOT])");
        }
        int eotRows = SEQUENCE_LENGTH - (promptLength - 1);
        int[] rows = new int[tokenIndices.length + eotRows];
        for (int i = 0; i < tokenIndices.length; i++) {
            int index = tokenIndices[i];
            if (index < 1 || index > promptLength - 2) {
                throw new IllegalArgumentException("Negative token index " + index + " is not a prompt token: "
                        + (promptLength > 2 ? "valid indices are 1.." + (promptLength - 2) : "the prompt is empty")
                        + " for prompt length n = " + promptLength + " (index 0 is [SOT], " + (promptLength - 1)
                        + ".." + (SEQUENCE_LENGTH - 1) + " are [EOT]/padding)");
            }
            for (int j = 0; j < i; j++) {
                if (tokenIndices[j] == index) {
                    throw new IllegalArgumentException("Negative token index " + index + " is given twice in "
                            + Arrays.toString(tokenIndices));
                }
            }
            rows[i] = index;
        }
        for (int i = 0; i < eotRows; i++) {
            rows[tokenIndices.length + i] = promptLength - 1 + i;
        }
        return rows;
    }

    /**
     * Applies SWR to every batch element of a text embedding.
     *
     * @param embedding    {@code [77, M]} or {@code [batch, 77, M]}; not modified
     * @param tokenIndices the negative prompt-token indices (all BPE tokens of the negative words), each in
     *                     {@code [1, n-2]}; not modified
     * @param promptLength n, the unpadded encoding length including SOT and the first EOT
     * @return a new tensor of the same shape: rows {@link #regularizedRows} replaced, all others copied
     * @throws IllegalArgumentException when the shape is not {@code [77, M]} / {@code [batch, 77, M]}, or n or an
     *                                  index is out of range
     * @throws IllegalStateException    when the SVD does not converge
     */
    public synchronized Tensor apply(Tensor embedding, int[] tokenIndices, int promptLength) {
        int width = checkEmbedding(embedding);
        int[] rows = regularizedRows(tokenIndices, promptLength);
        float[] values = embedding.toArray();
        int batchStride = SEQUENCE_LENGTH * width;
        for (int offset = 0; offset < values.length; offset += batchStride) {
            regularizeInPlace(values, offset, width, rows);
        }
        return Tensor.wrapOwned(values, embedding.shape());
    }

    private static int checkEmbedding(Tensor embedding) {
        int rank = embedding.rank();
        boolean shaped = (rank == 2 || rank == 3) && embedding.dim(-2) == SEQUENCE_LENGTH && embedding.dim(-1) > 0
                && (rank == 2 || embedding.dim(0) > 0);
        if (!shaped) {
            throw new IllegalArgumentException("SWR needs a text embedding of shape [77, M] or [batch, 77, M], found "
                    + Arrays.toString(embedding.shape()));
        }
        return embedding.dim(-1);
    }

    /** Rewrites rows {@code rows} of the {@code [77, width]} embedding at {@code offset}; modifies {@code values}. */
    private void regularizeInPlace(float[] values, int offset, int width, int[] rows) {
        int k = rows.length;
        if (effectiveVariant() == Variant.WEIGHT) {
            // The reference multiplies the float32 tensor by the Python float, i.e. by alpha rounded to float32.
            float weight = (float) alpha;
            for (int row : rows) {
                int rowOffset = offset + row * width;
                for (int m = 0; m < width; m++) {
                    values[rowOffset + m] *= weight;
                }
            }
            return;
        }
        Decomposition decomposition = decompose(values, offset, width, rows);
        double[] sigma = regularizedSingularValues(decomposition.singularValues(), k);
        double[] u = decomposition.u().data;
        double[] v = decomposition.v().data;
        int components = sigma.length;
        // χ̂ᵀ[col][m] = Σ_j V[col][j] σ̂_j U[m][j], written straight into row rows[col].
        double[] weightedV = new double[components];
        for (int col = 0; col < k; col++) {
            for (int j = 0; j < components; j++) {
                weightedV[j] = v[col * components + j] * sigma[j];
            }
            int rowOffset = offset + rows[col] * width;
            for (int m = 0; m < width; m++) {
                double sum = 0;
                int uOffset = m * components;
                for (int j = 0; j < components; j++) {
                    sum += u[uOffset + j] * weightedV[j];
                }
                values[rowOffset + m] = (float) sum;
            }
        }
    }

    /**
     * The singular values after the variant, for {@code k} rows (ALGORITHM.md §2). Index cut-offs use
     * {@code ⌊k·α⌋} with the reference's {@code k}, even when the economy SVD has fewer than k components.
     */
    private double[] regularizedSingularValues(double[] sigma, int k) {
        double[] result = sigma.clone();
        int cut = (int) (k * alpha);
        switch (effectiveVariant()) {
            case SOFT_WEIGHT -> {
                for (int j = 0; j < result.length; j++) {
                    result[j] = sigma[j] * Math.exp(-alpha * sigma[j]);
                }
            }
            case STRENGTHEN -> {
                for (int j = 0; j < result.length; j++) {
                    result[j] = sigma[j] * Math.exp(STRENGTHEN_RATE * sigma[j]) * STRENGTHEN_GAIN;
                }
            }
            // DELETE drops the top components from U, Σ and Vᵀ; on the product that is zeroing their σ, and
            // when ⌊k·α⌋ ≥ k the reference zeroes all of Σ: the same as ALPHA.
            case ALPHA, DELETE -> Arrays.fill(result, 0, Math.min(cut, result.length), 0.0);
            case BETA -> Arrays.fill(result, Math.min(cut, result.length), result.length, 0.0);
            default -> throw new IllegalStateException("No singular values for " + effectiveVariant());
        }
        return result;
    }

    /** An economy SVD {@code χ = U diag(σ) Vᵀ}: U {@code [M, r]}, V {@code [k, r]}, σ descending, r = min(M, k). */
    record Decomposition(DMatrixRMaj u, double[] singularValues, DMatrixRMaj v) {
    }

    /**
     * The sorted economy SVD of {@code χ = c[rows]ᵀ} for an embedding laid out as {@code [77, width]} at
     * {@code offset} in {@code values} (not modified). Callers hold this instance's lock.
     */
    Decomposition decompose(float[] values, int offset, int width, int[] rows) {
        int k = rows.length;
        DMatrixRMaj chi = new DMatrixRMaj(width, k);
        for (int col = 0; col < k; col++) {
            int rowOffset = offset + rows[col] * width;
            for (int m = 0; m < width; m++) {
                chi.data[m * k + col] = values[rowOffset + m];
            }
        }
        if (!svd.decompose(chi)) {
            throw new IllegalStateException("SVD of the " + width + " x " + k + " SWR matrix did not converge");
        }
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj w = svd.getW(null);
        DMatrixRMaj v = svd.getV(null, false);
        // EJML does not sort singular values; the variants index them from the largest.
        SingularOps_DDRM.descendingOrder(u, false, w, v, false);
        double[] sigma = new double[w.numCols];
        for (int j = 0; j < sigma.length; j++) {
            sigma[j] = w.get(j, j);
        }
        return new Decomposition(u, sigma, v);
    }

    /** The sorted economy SVD of {@code χ} for a {@code [77, M]} embedding (first element of a batch); for tests. */
    synchronized Decomposition decompose(Tensor embedding, int[] tokenIndices, int promptLength) {
        int width = checkEmbedding(embedding);
        return decompose(embedding.toArray(), 0, width, regularizedRows(tokenIndices, promptLength));
    }

    @Override
    public String toString() {
        return "SoftWeightedRegularization[" + variant + ", alpha " + alpha + "]";
    }
}
