package dev.suppress.core.internal.schedule;

import dev.suppress.core.tensor.Tensor;

/**
 * Classifier-free guidance {@code u + g·(c − u)} in float32, as the reference's {@code ptp_utils.diffusion_step}
 * and null-text inversion compute it (the scale rounded to float first).
 */
public final class ClassifierFreeGuidance {

    private ClassifierFreeGuidance() {
    }

    /**
     * Guides a batched noise prediction laid out as {@code [uncond_0..uncond_{b-1}, cond_0..cond_{b-1}]}.
     *
     * @param noise    {@code [2b, ...]}; not modified
     * @param branches {@code b}, the first dimension of the result
     * @return {@code [b, ...]}
     */
    public static Tensor guide(Tensor noise, int branches, double guidanceScale) {
        float[] values = noise.toArray();
        int half = values.length / 2;
        float[] guided = new float[half];
        guide(values, 0, values, half, guided, guidanceScale);
        int[] shape = noise.shape();
        shape[0] = branches;
        return Tensor.wrapOwned(guided, shape);
    }

    /**
     * Guides separate unconditional and conditional predictions of equal length.
     *
     * @return a new array
     */
    public static float[] guide(float[] unconditional, float[] conditional, double guidanceScale) {
        if (unconditional.length != conditional.length) {
            throw new IllegalArgumentException("Unconditional and conditional predictions differ in length: "
                    + unconditional.length + " and " + conditional.length);
        }
        float[] guided = new float[unconditional.length];
        guide(unconditional, 0, conditional, 0, guided, guidanceScale);
        return guided;
    }

    private static void guide(float[] unconditional, int unconditionalOffset, float[] conditional,
                              int conditionalOffset, float[] guided, double guidanceScale) {
        float guidance = (float) guidanceScale;
        for (int i = 0; i < guided.length; i++) {
            float u = unconditional[unconditionalOffset + i];
            guided[i] = u + guidance * (conditional[conditionalOffset + i] - u);
        }
    }
}
