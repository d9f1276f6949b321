package dev.suppress.core.internal.attention;

import java.util.Objects;

/**
 * The attention loss at one pair of map sets, with its masks and its gradients (ALGORITHM.md §4). Everything is
 * float64. {@code A}, {@code S} are the original branch's cross and self maps (the reference), {@code Â}, {@code Ŝ}
 * the erased branch's. The arrays are copied on the way in and on the way out.
 *
 * @param loss                 the weighted loss
 * @param parts                its four unweighted terms
 * @param height               the maps' height {@code h} ({@code res} for square maps)
 * @param width                their width {@code w}
 * @param masks                {@code [n-2, h, w]}: the mask of prompt token {@code i} (1 .. n-2) at index
 *                             {@code i-1}, values in {@code [0, 255]}; a pixel is selected where it is positive
 * @param crossGradient        {@code dL/dA}, {@code [h, w, keys]}; the masks count as constants (thresholding
 *                             has no gradient, as in the reference's autograd)
 * @param crossErasedGradient  {@code dL/dÂ}, {@code [h, w, keys]}
 * @param selfGradient         {@code dL/dS}, {@code [h, w, h*w]}
 * @param selfErasedGradient   {@code dL/dŜ}, {@code [h, w, h*w]}
 */
public record LossEvaluation(double loss, LossParts parts, int height, int width, double[] masks, double[] crossGradient,
                             double[] crossErasedGradient, double[] selfGradient, double[] selfErasedGradient) {

    public LossEvaluation {
        Objects.requireNonNull(parts, "parts");
        masks = masks.clone();
        crossGradient = crossGradient.clone();
        crossErasedGradient = crossErasedGradient.clone();
        selfGradient = selfGradient.clone();
        selfErasedGradient = selfErasedGradient.clone();
    }

    /**
     * The side of square maps.
     *
     * @throws IllegalStateException for maps that are not square
     */
    public int resolution() {
        if (height != width) {
            throw new IllegalStateException("The maps are " + height + "x" + width + " (height x width), not square");
        }
        return height;
    }

    /** The masks (a copy), {@code [n-2, h, w]}. */
    @Override
    public double[] masks() {
        return masks.clone();
    }

    /** {@code dL/dA} (a copy), {@code [h, w, keys]}. */
    @Override
    public double[] crossGradient() {
        return crossGradient.clone();
    }

    /** {@code dL/dÂ} (a copy), {@code [h, w, keys]}. */
    @Override
    public double[] crossErasedGradient() {
        return crossErasedGradient.clone();
    }

    /** {@code dL/dS} (a copy), {@code [h, w, h*w]}. */
    @Override
    public double[] selfGradient() {
        return selfGradient.clone();
    }

    /** {@code dL/dŜ} (a copy), {@code [h, w, h*w]}. */
    @Override
    public double[] selfErasedGradient() {
        return selfErasedGradient.clone();
    }

    /** How many pixels the mask of prompt token {@code token} (1 .. n-2) selects. */
    public int selectedPixels(int token) {
        int pixels = height * width;
        int count = masks.length / pixels;
        if (token < 1 || token > count) {
            throw new IllegalArgumentException("Token " + token + " outside the prompt tokens 1.." + count);
        }
        int selected = 0;
        for (int p = (token - 1) * pixels; p < token * pixels; p++) {
            if (masks[p] > 0) {
                selected++;
            }
        }
        return selected;
    }
}
