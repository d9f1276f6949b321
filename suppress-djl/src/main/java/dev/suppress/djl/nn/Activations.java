package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.jni.JniUtils;

/** The activation functions of Stable Diffusion's networks, each returning a new array in the input's manager. */
public final class Activations {

    /** transformers' {@code quick_gelu}: {@code x * sigmoid(1.702 x)}. */
    private static final float QUICK_GELU_SLOPE = 1.702f;

    private Activations() {
    }

    /** {@code x * sigmoid(x)} ({@code torch.nn.SiLU}, diffusers' {@code act_fn = "silu"}). */
    public static NDArray silu(NDArray x) {
        NDArray sigmoid = x.getNDArrayInternal().sigmoid();
        if (!JniUtils.isGradMode()) {
            // the product overwrites the sigmoid (the same multiplication, so the same bits): one array of x's
            // size fewer at the peak, 256 MB at the VAE decoder's top level. Autograd saves sigmoid's output for
            // its backward, so under grad mode it gets its own array.
            return sigmoid.muli(x);
        }
        NDArray product = x.mul(sigmoid);
        sigmoid.close();
        return product;
    }

    /** The exact (erf) GELU, {@code torch.nn.functional.gelu} with its default {@code approximate="none"}. */
    public static NDArray gelu(NDArray x) {
        return x.getNDArrayInternal().gelu();
    }

    /** transformers' {@code QuickGELUActivation}: {@code x * sigmoid(1.702 x)} (the SD 1.x CLIP text encoder). */
    public static NDArray quickGelu(NDArray x) {
        return x.mul(x.mul(Tensors.scalar(x.getManager(), QUICK_GELU_SLOPE)).getNDArrayInternal().sigmoid());
    }
}
