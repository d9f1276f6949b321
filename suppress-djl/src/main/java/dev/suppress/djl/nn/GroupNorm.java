package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.suppress.djl.weights.WeightLoader;

/**
 * {@code torch.nn.GroupNorm} with affine parameters, on {@code [batch, channels, h, w]}.
 *
 * <p>DJL has no group norm, so this normalises the {@code [batch, groups, channels/groups * h * w]} view with
 * libtorch's layer norm (which computes the same per-group mean and biased variance) and then applies the
 * per-channel scale and shift, kept as {@code [channels, 1, 1]} from load time so that they broadcast.
 *
 * <p>Computed in float32 whatever the input's type, and returned in the input's type: CUDA autocast runs
 * {@code group_norm} in float32, and a bf16 mean/variance over a group of 10^5 values would be visibly off.
 */
public final class GroupNorm {

    private final int groups;
    private final float eps;
    private final NDArray gamma;
    private final NDArray beta;

    /**
     * @param prefix the module key; loads {@code prefix.weight} and {@code prefix.bias}, both {@code [channels]}
     * @throws IllegalArgumentException when {@code channels} is not a multiple of {@code groups}
     */
    public GroupNorm(WeightLoader loader, String prefix, int groups, int channels, double eps) {
        if (groups < 1 || channels % groups != 0) {
            throw new IllegalArgumentException("GroupNorm '" + prefix + "': " + channels
                    + " channels cannot be split into " + groups + " groups");
        }
        this.groups = groups;
        this.eps = (float) eps;
        this.gamma = loader.loadFloat32(prefix + ".weight", channels).reshape(channels, 1, 1);
        this.beta = loader.loadFloat32(prefix + ".bias", channels).reshape(channels, 1, 1);
    }

    /**
     * @param x {@code [batch, channels, h, w]}; not modified
     * @return the normalised array, same shape and type, in {@code x}'s manager
     */
    public NDArray forward(NDArray input) {
        DataType type = input.getDataType();
        NDArray x = ComputePrecision.toFloat32(input);
        Shape shape = x.getShape();
        long batch = shape.get(0);
        long perGroup = shape.size() / (batch * groups);
        NDManager manager = x.getManager();
        Shape normalized = new Shape(perGroup);
        NDArray grouped = x.reshape(batch, groups, perGroup);
        NDArray ones = manager.ones(normalized);
        NDArray zeros = manager.zeros(normalized);
        NDArray out = ai.djl.nn.norm.LayerNorm.layerNorm(grouped, normalized, ones, zeros, eps).singletonOrThrow();
        // each full-size step is freed once the next exists (closing a handle leaves autograd's saved tensors):
        // at the VAE's top level one is 512x512 by 256 channels
        NDArray view = out.reshape(shape);
        if (!JniUtils.isGradMode()) {
            // scale and shift in place (the same arithmetic): the input and one array at the peak instead of
            // two; autograd would need the unscaled array, so under grad mode each step gets its own
            NDArray affine = view.muli(gamma).addi(beta);
            for (NDArray done : new NDArray[] {out, grouped, ones, zeros}) {
                done.close();
            }
            if (x != input) {
                x.close();
            }
            return Intermediates.then(affine, s -> ComputePrecision.cast(s, type));
        }
        NDArray scaled = view.mul(gamma);
        for (NDArray done : new NDArray[] {view, out, grouped, ones, zeros}) {
            done.close();
        }
        if (x != input) {
            x.close();
        }
        NDArray shifted = Intermediates.then(scaled, s -> s.add(beta));
        return Intermediates.then(shifted, s -> ComputePrecision.cast(s, type));
    }
}
