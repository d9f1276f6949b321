package dev.suppress.core.ito;

import java.util.Objects;

/**
 * How {@link FiniteDifferenceContextGradient} estimates the gradient without autograd.
 *
 * <p>The estimate is the gradient projected on a subspace of {@code K} orthonormal directions {@code D_k} of the
 * {@code [77, M]} embedding: {@code g ≈ Σ_k (L(c + ε D_k) − L(c − ε D_k)) / (2ε) · D_k} (central differences). One
 * ITO iteration costs {@code 2K + 1} attention-only UNet passes, run as batches: the {@code 2K} perturbed contexts
 * and {@code c} itself, whose loss is the one reported.
 *
 * @param subspace   which directions
 * @param directions {@code K}, at least 1
 * @param epsilon    the step along each unit-norm direction (the embedding's rows have norms of order 1 to 30)
 * @param seed       seeds the random directions of {@link Subspace#RANDOM}
 */
public record FiniteDifferenceOptions(Subspace subspace, int directions, double epsilon, long seed) {

    /** The defaults: the top 4 singular directions of the negative-target matrix, ε = 1e-2. */
    public static final FiniteDifferenceOptions DEFAULT = new FiniteDifferenceOptions(Subspace.SINGULAR_DIRECTIONS,
            4, 1e-2, 0);

    public FiniteDifferenceOptions {
        Objects.requireNonNull(subspace, "subspace");
        if (directions < 1) {
            throw new IllegalArgumentException("Finite differences need at least one direction, got " + directions);
        }
        if (!(epsilon > 0) || !Double.isFinite(epsilon)) {
            throw new IllegalArgumentException("Finite-difference epsilon must be positive and finite, got " + epsilon);
        }
    }

    /** The directions the gradient is projected on. */
    public enum Subspace {
        /**
         * {@code D_k = u_k v_kᵀ} written into the rows {@code R} that soft-weighted regularization rewrites (the
         * negative tokens and every [EOT] row), from the SVD {@code χ = U Σ Vᵀ} of the current embedding's
         * {@code χ = c[R]ᵀ}: the derivative of the loss with respect to the top singular values of the negative-target
         * matrix, the quantities SWR itself shrinks (ALGORITHM.md §2).
         */
        SINGULAR_DIRECTIONS,
        /**
         * Random Rademacher directions over rows {@code R}, orthonormalised, redrawn at every evaluation (SPSA-like):
         * unbiased up to scale but noisy.
         */
        RANDOM
    }
}
