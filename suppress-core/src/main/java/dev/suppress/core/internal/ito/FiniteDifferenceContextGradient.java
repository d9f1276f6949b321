package dev.suppress.core.internal.ito;

import dev.suppress.core.ito.FiniteDifferenceOptions;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.SingularOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.SingularValueDecomposition_F64;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * {@code dL/d context} without autograd: the loss differenced along a few directions of the embedding, from
 * attention-only forward passes ({@link DenoiserWithAttention#attention}), which a backend may cut short after the
 * last captured layer. The estimate is the gradient projected on the span of the directions
 * ({@link FiniteDifferenceOptions}); its cost is {@code 2K + 1} single-sample attention passes per evaluation.
 *
 * <p>Not thread-safe (it keeps one SVD and a random stream).
 */
public final class FiniteDifferenceContextGradient implements ContextGradient {

    private final DenoiserWithAttention denoiser;
    private final FiniteDifferenceOptions options;
    private final int[] rows;
    private final int maxBatch;
    private final SplittableRandom random;

    /**
     * @param denoiser       the UNet whose attention maps are differenced
     * @param options        subspace, number of directions, ε
     * @param promptLength   n of the prompt (ALGORITHM.md §1)
     * @param negativeTokens the suppressed token indices; not modified
     * @param maxBatch       the most contexts per UNet call (memory), at least 1
     */
    public FiniteDifferenceContextGradient(DenoiserWithAttention denoiser, FiniteDifferenceOptions options,
                                           int promptLength, int[] negativeTokens, int maxBatch) {
        this.denoiser = Objects.requireNonNull(denoiser, "denoiser");
        this.options = Objects.requireNonNull(options, "options");
        this.rows = switch (options.subspace()) {
            case PROMPT_ROWS -> promptRows(promptLength);
            case NEGATIVE_TARGET_SINGULAR -> SoftWeightedRegularization.regularizedRows(negativeTokens, promptLength);
        };
        if (maxBatch < 1) {
            throw new IllegalArgumentException("maxBatch must be positive, got " + maxBatch);
        }
        this.maxBatch = maxBatch;
        this.random = new SplittableRandom(options.seed());
    }

    private static int[] promptRows(int promptLength) {
        if (promptLength < 2 || promptLength > 77) {
            throw new IllegalArgumentException("Prompt length n must be in 2..77, got " + promptLength);
        }
        int[] rows = new int[promptLength - 1];
        for (int row = 0; row < rows.length; row++) {
            rows[row] = row;
        }
        return rows;
    }

    /** The rows the directions live on. */
    public int[] rows() {
        return rows.clone();
    }

    /** The options. */
    public FiniteDifferenceOptions options() {
        return options;
    }

    /**
     * The unit-norm directions the next evaluation at {@code context} would use ({@code [K][77*M]}, orthonormal in
     * the Frobenius inner product). For {@link FiniteDifferenceOptions.Subspace#PROMPT_ROWS} this draws from the
     * stream.
     */
    public float[][] directions(Tensor context) {
        checkContext(context);
        return switch (options.subspace()) {
            case NEGATIVE_TARGET_SINGULAR -> singularDirections(context);
            case PROMPT_ROWS -> randomDirections(context.dim(0), context.dim(1));
        };
    }

    @Override
    public ProbeResult evaluate(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                AttentionObjective objective) {
        checkContext(context);
        float[][] directions = directions(context);
        float[] base = context.toArray();
        int count = 2 * directions.length + 1;
        List<Tensor> contexts = new ArrayList<>(count);
        contexts.add(context);
        // The perturbation actually applied is the float32 difference, so difference quotients use its true size.
        double[] plusSteps = new double[directions.length];
        double[] minusSteps = new double[directions.length];
        for (int k = 0; k < directions.length; k++) {
            float[] plus = new float[base.length];
            float[] minus = new float[base.length];
            double plusDot = 0;
            double minusDot = 0;
            for (int i = 0; i < base.length; i++) {
                float step = (float) (options.epsilon() * directions[k][i]);
                plus[i] = base[i] + step;
                minus[i] = base[i] - step;
                plusDot += (double) (plus[i] - base[i]) * directions[k][i];
                minusDot += (double) (base[i] - minus[i]) * directions[k][i];
            }
            plusSteps[k] = plusDot;
            minusSteps[k] = minusDot;
            contexts.add(Tensor.wrapOwned(plus, context.shape()));
            contexts.add(Tensor.wrapOwned(minus, context.shape()));
        }
        double[] losses = new double[count];
        AttentionMaps baseMaps = null;
        for (int start = 0; start < count; start += maxBatch) {
            int size = Math.min(maxBatch, count - start);
            Tensor latents = repeat(latent, size);
            Tensor batch = Tensor.stack(contexts.subList(start, start + size).toArray(new Tensor[0]));
            AttentionMaps maps = denoiser.attention(latents, timestep, batch, capture);
            for (int b = 0; b < size; b++) {
                AttentionMaps element = maps.element(b);
                losses[start + b] = objective.evaluate(element).loss();
                if (start + b == 0) {
                    baseMaps = element;
                }
            }
        }
        float[] gradient = new float[base.length];
        for (int k = 0; k < directions.length; k++) {
            double slope = (losses[1 + 2 * k] - losses[2 + 2 * k]) / (plusSteps[k] + minusSteps[k]);
            for (int i = 0; i < gradient.length; i++) {
                gradient[i] += (float) (slope * directions[k][i]);
            }
        }
        return new ProbeResult(losses[0], Tensor.wrapOwned(gradient, context.shape()), baseMaps);
    }

    private void checkContext(Tensor context) {
        if (context.rank() != 2) {
            throw new IllegalArgumentException("Expected a context [77, M], got " + context);
        }
        for (int row : rows) {
            if (row < 0 || row >= context.dim(0)) {
                throw new IllegalArgumentException("Row " + row + " is outside the context " + context);
            }
        }
    }

    private static Tensor repeat(Tensor latent, int times) {
        int[] shape = latent.shape();
        Tensor single = shape[0] == 1 ? latent.slice(0) : latent;
        Tensor[] copies = new Tensor[times];
        Arrays.fill(copies, single);
        return Tensor.stack(copies);
    }

    /** {@code u_k v_kᵀ} of {@code χ = c[R]ᵀ = U Σ Vᵀ}, written back into rows R (so row {@code R[j]} gets {@code v_k[j] u_k}). */
    private float[][] singularDirections(Tensor context) {
        int width = context.dim(1);
        int k = rows.length;
        float[] values = context.toArray();
        DMatrixRMaj chi = new DMatrixRMaj(width, k);
        for (int j = 0; j < k; j++) {
            for (int m = 0; m < width; m++) {
                chi.set(m, j, values[rows[j] * width + m]);
            }
        }
        SingularValueDecomposition_F64<DMatrixRMaj> svd = DecompositionFactory_DDRM.svd(width, k, true, true, true);
        if (!svd.decompose(chi)) {
            throw new IllegalStateException("SVD of the negative-target matrix did not converge");
        }
        DMatrixRMaj u = svd.getU(null, false);
        DMatrixRMaj vt = svd.getV(null, true);
        double[] sigma = svd.getSingularValues();
        SingularOps_DDRM.descendingOrder(u, false, sigma, Math.min(width, k), vt, true);
        int count = Math.min(options.directions(), Math.min(width, k));
        float[][] directions = new float[count][values.length];
        for (int d = 0; d < count; d++) {
            for (int j = 0; j < k; j++) {
                double coefficient = vt.get(d, j);
                for (int m = 0; m < width; m++) {
                    directions[d][rows[j] * width + m] = (float) (u.get(m, d) * coefficient);
                }
            }
        }
        return directions;
    }

    /** Rademacher vectors on the rows, orthonormalised by Gram-Schmidt in float64. */
    private float[][] randomDirections(int length, int width) {
        int count = Math.min(options.directions(), rows.length * width);
        double[][] basis = new double[count][length * width];
        for (int d = 0; d < count; d++) {
            double[] vector = basis[d];
            for (int row : rows) {
                for (int m = 0; m < width; m++) {
                    vector[row * width + m] = random.nextBoolean() ? 1.0 : -1.0;
                }
            }
            for (int previous = 0; previous < d; previous++) {
                double dot = dot(vector, basis[previous]);
                for (int i = 0; i < vector.length; i++) {
                    vector[i] -= dot * basis[previous][i];
                }
            }
            double norm = Math.sqrt(dot(vector, vector));
            for (int i = 0; i < vector.length; i++) {
                vector[i] /= norm;
            }
        }
        float[][] out = new float[count][];
        for (int d = 0; d < count; d++) {
            out[d] = new float[basis[d].length];
            for (int i = 0; i < out[d].length; i++) {
                out[d][i] = (float) basis[d][i];
            }
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
