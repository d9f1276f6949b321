package dev.suppress.core.internal.attention;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.LossWeights;

import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * The loss of inference-time text-embedding optimization (ALGORITHM.md §4, the reference's
 * {@code losses/attn_loss.py} {@code AttnLoss} with {@code 'cosine'} distances), with its analytic gradient, all in
 * float64.
 *
 * <p>With {@code A}, {@code S} the original branch's cross and self maps at one resolution ({@code [h, w, 77]},
 * {@code [h, w, h*w]}, {@code h = w = res} for a square latent) and {@code Â}, {@code Ŝ} the erased branch's,
 * {@code cos} the cosine similarity over
 * pixels ({@code torch.nn.CosineSimilarity(dim=1, eps=1e-8)} of torch 1.13: each norm clamped at {@code eps}
 * separately):
 * <ul>
 *   <li>retain: {@code λ_r Σ_{i=1..n-2, i not negative} (1 - cos(A[:,:,i], Â[:,:,i]))}</li>
 *   <li>erase: {@code λ_e Σ_{i negative} (1 - cos(A[:,:,i], Â[:,:,i]))}</li>
 *   <li>self retain: {@code λ_sr Σ_{i not negative} Σ_{j selected by mask i} (1 - cos(S[:,:,j], Ŝ[:,:,j]))}, the
 *       cosine over the {@code h*w} query pixels of key pixel {@code j}'s column</li>
 *   <li>self erase: the same over the negative tokens, weighted {@code λ_se}</li>
 * </ul>
 * The masks come from {@code A} alone ({@link TokenMaskOptions}). Every term is invariant to scaling either map, so
 * the reference's division of the maps by its running UNet-pass count changes neither the loss nor the masks, only
 * the map gradients (by the inverse factor).
 *
 * <p>Cost: one pass over each pair of maps for the column norms and dot products, one more to write the gradients,
 * and per prompt token two bilinear resizes through the {@code workingSize}² grid for its mask (a rectangle's map too
 * goes through that square grid and back, as the reference's {@code calc_mask} resizes to 256x256 whatever the map).
 * The loss never needs the maps to be square: pixels are only counted and compared column by column.
 *
 * <p>Immutable and thread-safe.
 */
public final class AttentionLoss {

    private final int promptLength;
    private final int[] negativeTokens;
    private final boolean[] negative;
    private final LossWeights weights;
    private final TokenMaskOptions maskOptions;

    /**
     * @param promptLength   {@code n}, the length of the unpadded encoding with SOT and the first EOT (ALGORITHM.md
     *                       §1); prompt tokens are {@code 1 .. n-2}
     * @param negativeTokens the indices of the tokens to suppress, distinct, each in {@code 1 .. n-2}; may be empty
     *                       (then only the retain terms remain); not modified
     * @param weights        the four λ
     * @param maskOptions    the mask thresholds and working size
     * @throws IllegalArgumentException for {@code n} outside {@code 2 .. 77} or a bad negative index
     */
    public AttentionLoss(int promptLength, int[] negativeTokens, LossWeights weights, TokenMaskOptions maskOptions) {
        if (promptLength < 2 || promptLength > 77) {
            throw new IllegalArgumentException("promptLength n must be in 2..77 (SOT, the prompt tokens and the "
                    + "first EOT), got " + promptLength);
        }
        this.promptLength = promptLength;
        this.weights = Objects.requireNonNull(weights, "weights");
        this.maskOptions = Objects.requireNonNull(maskOptions, "maskOptions");
        int[] sorted = negativeTokens.clone();
        Arrays.sort(sorted);
        this.negative = new boolean[promptLength];
        for (int i = 0; i < sorted.length; i++) {
            int token = sorted[i];
            if (token < 1 || token > promptLength - 2) {
                throw new IllegalArgumentException("Negative token index " + token + " is not a prompt token: "
                        + "prompt tokens of a prompt with n = " + promptLength + " are 1.." + (promptLength - 2));
            }
            if (i > 0 && sorted[i - 1] == token) {
                throw new IllegalArgumentException("Negative token index " + token + " is given twice in "
                        + Arrays.toString(negativeTokens));
            }
            negative[token] = true;
        }
        this.negativeTokens = sorted;
    }

    /** The reference's configuration ({@link LossWeights#REFERENCE}, {@link TokenMaskOptions#REFERENCE}). */
    public static AttentionLoss withReferenceSettings(int promptLength, int... negativeTokens) {
        return new AttentionLoss(promptLength, negativeTokens, LossWeights.REFERENCE, TokenMaskOptions.REFERENCE);
    }

    /** {@code n}. */
    public int promptLength() {
        return promptLength;
    }

    /** The negative token indices, ascending (a copy). */
    public int[] negativeTokens() {
        return negativeTokens.clone();
    }

    /** The four λ. */
    public LossWeights weights() {
        return weights;
    }

    /** The mask settings. */
    public TokenMaskOptions maskOptions() {
        return maskOptions;
    }

    /**
     * Evaluates the loss and all gradients on tensors of square maps (rectangles: {@link #evaluate(int, int,
     * double[], double[], double[], double[])} or {@link #objective}).
     *
     * @param cross       {@code A}, {@code [h, w, keys]} or {@code [1, h, w, keys]}, keys ≥ n-1
     * @param crossErased {@code Â}, the same shape
     * @param self        {@code S}, {@code [h, w, h*w]} or {@code [1, h, w, h*w]}
     * @param selfErased  {@code Ŝ}, the same shape
     * @throws IllegalArgumentException when the shapes do not fit together
     */
    public LossEvaluation evaluate(Tensor cross, Tensor crossErased, Tensor self, Tensor selfErased) {
        int[] crossShape = mapShape("cross", cross);
        int[] selfShape = mapShape("self", self);
        if (!Arrays.equals(crossShape, mapShape("crossErased", crossErased))
                || !Arrays.equals(selfShape, mapShape("selfErased", selfErased))) {
            throw new IllegalArgumentException("Original and erased maps differ in shape: cross "
                    + Arrays.toString(cross.shape()) + " vs " + Arrays.toString(crossErased.shape()) + ", self "
                    + Arrays.toString(self.shape()) + " vs " + Arrays.toString(selfErased.shape()));
        }
        if (crossShape[0] != crossShape[1]) {
            // the tensors' shapes would tell a rectangle's sides, but a transposed map reads as well as the right one
            throw new IllegalArgumentException("Cross maps must be square here, got " + Arrays.toString(cross.shape())
                    + "; give the height and width of h x w maps explicitly (evaluate(height, width, ...) or "
                    + "objective(AttentionMaps))");
        }
        return evaluate(crossShape[0], cross.toDoubleArray(), crossErased.toDoubleArray(), self.toDoubleArray(),
                selfErased.toDoubleArray());
    }

    private static int[] mapShape(String name, Tensor map) {
        Objects.requireNonNull(map, name);
        int[] shape = map.shape();
        if (shape.length == 4 && shape[0] == 1) {
            return Arrays.copyOfRange(shape, 1, 4);
        }
        if (shape.length != 3) {
            throw new IllegalArgumentException(name + " map has shape " + Arrays.toString(shape)
                    + "; expected [h, w, keys] or [1, h, w, keys]");
        }
        return shape;
    }

    /**
     * Evaluates the loss and all gradients on flat arrays of square maps.
     *
     * @param resolution  {@code res}
     * @param cross       {@code A}, {@code [res, res, keys]} row-major, keys ≥ n-1; not modified
     * @param crossErased {@code Â}, {@code [res, res, keys]}; not modified
     * @param self        {@code S}, {@code [res, res, res*res]}; not modified
     * @param selfErased  {@code Ŝ}, {@code [res, res, res*res]}; not modified
     * @throws IllegalArgumentException when the lengths do not fit {@code res}
     */
    public LossEvaluation evaluate(int resolution, double[] cross, double[] crossErased, double[] self,
                                   double[] selfErased) {
        return evaluate(resolution, resolution, cross, crossErased, self, selfErased);
    }

    /**
     * Evaluates the loss and all gradients on flat arrays of {@code height x width} maps.
     *
     * @param height      {@code h}, the maps' height
     * @param width       {@code w}, their width
     * @param cross       {@code A}, {@code [h, w, keys]} row-major, keys ≥ n-1; not modified
     * @param crossErased {@code Â}, {@code [h, w, keys]}; not modified
     * @param self        {@code S}, {@code [h, w, h*w]}; not modified
     * @param selfErased  {@code Ŝ}, {@code [h, w, h*w]}; not modified
     * @throws IllegalArgumentException when the lengths do not fit {@code h x w}
     */
    public LossEvaluation evaluate(int height, int width, double[] cross, double[] crossErased, double[] self,
                                   double[] selfErased) {
        int keys = checkMaps(height, width, cross, crossErased, self, selfErased);
        double[] masks = masksOf(height, width, keys, cross);
        Terms terms = compute(height * width, keys, cross, crossErased, self, selfErased, masks, true);
        return new LossEvaluation(terms.loss, terms.parts, height, width, masks, terms.crossGradient,
                terms.crossErasedGradient, terms.selfGradient, terms.selfErasedGradient);
    }

    /**
     * The masks of the prompt tokens, computed from the reference cross maps alone.
     *
     * @param resolution {@code res}
     * @param cross      {@code A}, {@code [res, res, keys]}, keys ≥ n-1; not modified
     * @return {@code [n-2, res, res]}, token {@code i} at index {@code i-1}, values in {@code [0, 255]}
     */
    public double[] masks(int resolution, double[] cross) {
        return masks(resolution, resolution, cross);
    }

    /**
     * The masks of {@code height x width} maps.
     *
     * @return {@code [n-2, h, w]}, token {@code i} at index {@code i-1}, values in {@code [0, 255]}
     */
    public double[] masks(int height, int width, double[] cross) {
        return masksOf(height, width, crossKeys(height, width, cross.length, "cross"), cross);
    }

    /**
     * The loss as a gradient-probe objective with fixed reference maps: its masks and copies of the maps are taken
     * now, and each {@link AttentionObjective#evaluate} call returns the loss and {@code dL/dÂ}, {@code dL/dŜ} as
     * float32 tensors {@code [1, h, w, keys]} and {@code [1, h, w, h*w]}.
     *
     * @param reference the original branch's maps, batch 1
     * @throws IllegalArgumentException when {@code reference} is not a batch of one or its maps do not fit
     */
    public AttentionObjective objective(AttentionMaps reference) {
        Objects.requireNonNull(reference, "reference");
        if (reference.batchSize() != 1) {
            throw new IllegalArgumentException("Reference maps must be a batch of one, got a batch of "
                    + reference.batchSize());
        }
        int height = reference.height();
        int width = reference.width();
        double[] cross = reference.cross().toDoubleArray();
        double[] self = reference.self().toDoubleArray();
        int keys = checkMaps(height, width, cross, cross, self, self);
        return new AttentionLossObjective(this, height, width, keys, cross, self,
                masksOf(height, width, keys, cross));
    }

    /** Checks the four lengths against {@code h x w} and returns the number of keys. */
    int checkMaps(int height, int width, double[] cross, double[] crossErased, double[] self, double[] selfErased) {
        if (height < 1 || width < 1) {
            throw new IllegalArgumentException(height == width ? "resolution must be positive, got " + height
                    : "The maps' height and width must be positive, got " + height + "x" + width);
        }
        int keys = crossKeys(height, width, cross.length, "cross");
        if (crossErased.length != cross.length) {
            throw new IllegalArgumentException("Erased cross map has " + crossErased.length + " values, the original "
                    + cross.length);
        }
        long pixels = (long) height * width;
        if (self.length != pixels * pixels || selfErased.length != self.length) {
            throw new IllegalArgumentException("Self maps must hold (h*w)^2 = " + pixels * pixels + " values for "
                    + (height == width ? "res " + height : height + "x" + width + " maps") + ", got " + self.length
                    + " and " + selfErased.length);
        }
        return keys;
    }

    private int crossKeys(int height, int width, int length, String name) {
        int pixels = height * width;
        if (height < 1 || width < 1 || length % pixels != 0 || length / pixels < promptLength - 1) {
            throw new IllegalArgumentException(name + " map has " + length + " values; expected [" + height + ", "
                    + width + ", keys] with keys >= n-1 = " + (promptLength - 1));
        }
        return length / pixels;
    }

    /** ALGORITHM.md §4 masks, the reference's {@code calc_mask}, for tokens 1 .. n-2. */
    double[] masksOf(int height, int width, int keys, double[] cross) {
        int pixels = height * width;
        int working = maskOptions.workingSize();
        BilinearResize up = new BilinearResize(height, width, working, working);
        BilinearResize down = new BilinearResize(working, working, height, width);
        double[] column = new double[pixels];
        double[] large = new double[working * working];
        double[] small = new double[pixels];
        double[] masks = new double[(promptLength - 2) * pixels];
        for (int token = 1; token <= promptLength - 2; token++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int p = 0; p < pixels; p++) {
                double value = cross[p * keys + token];
                column[p] = value;
                max = Math.max(max, value);
            }
            if (!(max > 0)) {
                // Softmax probabilities are never all zero; if they are, the reference's 0/0 gives a NaN mask that
                // selects nothing. Leave this token's mask at zero, which selects the same nothing.
                continue;
            }
            for (int p = 0; p < pixels; p++) {
                column[p] = 255.0 * column[p] / max;
            }
            up.resize(column, large);
            double largeMax = Double.NEGATIVE_INFINITY;
            for (double value : large) {
                largeMax = Math.max(largeMax, value);
            }
            // The reference sets >= threshold*max to 255 and then < (new max = 255)*threshold to 0; every value
            // below the first threshold is below the second, so this is one binary threshold.
            double threshold = largeMax * (negative[token] ? maskOptions.negativeThreshold()
                    : maskOptions.retainThreshold());
            for (int q = 0; q < large.length; q++) {
                large[q] = large[q] >= threshold ? 255.0 : 0.0;
            }
            down.resize(large, small);
            System.arraycopy(small, 0, masks, (token - 1) * pixels, pixels);
        }
        return masks;
    }

    /** The loss, its parts and the gradients; {@code referenceGradients} false leaves dL/dA and dL/dS null. */
    Terms compute(int pixels, int keys, double[] cross, double[] crossErased, double[] self, double[] selfErased,
                  double[] masks, boolean referenceGradients) {

        ColumnCosines crossCosines = new ColumnCosines(cross, crossErased, pixels, keys);
        double retain = 0.0;
        double erase = 0.0;
        double[] crossWeights = new double[keys];
        for (int token = 1; token <= promptLength - 2; token++) {
            double distance = 1.0 - crossCosines.cosine(token);
            if (negative[token]) {
                erase += distance;
                crossWeights[token] = weights.erase();
            } else {
                retain += distance;
                crossWeights[token] = weights.retain();
            }
        }

        ColumnCosines selfCosines = new ColumnCosines(self, selfErased, pixels, pixels);
        double selfRetain = 0.0;
        double selfErase = 0.0;
        // A key pixel selected by several tokens' masks enters once per token (the reference's double loop).
        double[] selfWeights = new double[pixels];
        for (int token = 1; token <= promptLength - 2; token++) {
            boolean isNegative = negative[token];
            double weight = isNegative ? weights.selfErase() : weights.selfRetain();
            int maskOffset = (token - 1) * pixels;
            for (int j = 0; j < pixels; j++) {
                if (masks[maskOffset + j] > 0) {
                    double distance = 1.0 - selfCosines.cosine(j);
                    if (isNegative) {
                        selfErase += distance;
                    } else {
                        selfRetain += distance;
                    }
                    selfWeights[j] += weight;
                }
            }
        }

        Terms terms = new Terms();
        terms.parts = new LossParts(retain, erase, selfRetain, selfErase);
        terms.loss = terms.parts.weightedSum(weights);
        terms.crossErasedGradient = new double[cross.length];
        terms.selfErasedGradient = new double[self.length];
        if (referenceGradients) {
            terms.crossGradient = new double[cross.length];
            terms.selfGradient = new double[self.length];
        }
        crossCosines.distanceGradient(cross, crossErased, crossWeights, terms.crossGradient,
                terms.crossErasedGradient);
        selfCosines.distanceGradient(self, selfErased, selfWeights, terms.selfGradient, terms.selfErasedGradient);
        return terms;
    }

    /** The results of {@link #compute}; arrays owned by the caller. */
    static final class Terms {
        double loss;
        LossParts parts;
        double[] crossGradient;
        double[] crossErasedGradient;
        double[] selfGradient;
        double[] selfErasedGradient;
    }
}
