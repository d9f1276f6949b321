package dev.suppress.djl.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import dev.suppress.djl.weights.WeightLoader;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Convolutions, linear layers, batched matrix products and fused attention in bfloat16 with float32 inputs and outputs, as PyTorch's
 * autocast runs them: each input cast down to bfloat16, the product in bfloat16 (oneDNN's {@code avx512_bf16}/AMX
 * kernels on a CPU that has them), the result cast up to float32. Weights are held in bfloat16
 * ({@link #toBf16}), so a model's matrices take half the memory.
 *
 * <p>DJL 0.36's PyTorch JNI cannot name bfloat16: every call that passes a data type to libtorch (casting to it,
 * creating an array of it, a softmax with a result type) aborts the JVM, while arrays that already are bfloat16
 * can be passed, read for their shape and cast to float32. So the casts to bfloat16 and the products run in a
 * TorchScript module that this class writes ({@link TorchScriptArchive}) and libtorch compiles at first use; its
 * methods are called through DJL's public {@link IValueUtils#forward(PtSymbolBlock, NDList, boolean)} with
 * {@code isTrain} true, which runs them under the caller's grad mode: recorded by autograd while a gradient
 * collector records (the probe's backward then runs through them in bfloat16, as under autocast), not otherwise.
 *
 * <p>Every result is a new float32 array in the first input's manager; inputs are not modified. Arrays holding
 * bfloat16 must only be handed to these methods (or cast up): DJL reports their data type as {@code UNKNOWN}.
 * Thread-safe.
 */
public final class Bf16Kernels {

    private static final String CLASS_NAME = "SuppressBf16Kernels";
    /** TorchScript's ScalarType numbers. */
    private static final int FLOAT32 = 6;
    private static final int BFLOAT16 = 15;
    private static final int[] STRIDES = {1, 2};
    private static final int[] PADDINGS = {0, 1};

    private static final Map<Device, Bf16Kernels> BY_DEVICE = new ConcurrentHashMap<>();

    private final PtSymbolBlock module;
    private final NDManager manager;
    private final Map<String, NDArray> selectors = new ConcurrentHashMap<>();

    private Bf16Kernels(Device device) {
        // lives as long as the JVM: a few compiled methods, shared by every model on the device
        this.manager = TorchRuntime.engine().newBaseManager(device);
        try {
            this.module = JniUtils.loadModule((PtNDManager) manager, new ByteArrayInputStream(archive()),
                    device.isGpu(), false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The kernels for {@code device}, compiled on first use. */
    public static Bf16Kernels on(Device device) {
        return BY_DEVICE.computeIfAbsent(device, Bf16Kernels::new);
    }

    /**
     * The kernels a layer of {@code loader}'s part computes with: those of {@code parameter}'s device when the part
     * is loaded in bfloat16 from a file, {@code null} otherwise (float32 or float16, or a recording loader).
     */
    public static Bf16Kernels forLoader(WeightLoader loader, NDArray parameter) {
        if (loader.matmulType() != DataType.BFLOAT16 || loader.isRecording()) {
            return null;
        }
        return on(parameter.getDevice());
    }

    /** {@code parameter} in bfloat16 in its own manager, for holding; the float32 {@code parameter} is closed. */
    public NDArray held(NDArray parameter) {
        try {
            return toBf16(parameter);
        } finally {
            parameter.close();
        }
    }

    /** {@code x} rounded to bfloat16 (round to nearest even), a new array in {@code x}'s manager. */
    public NDArray toBf16(NDArray x) {
        return call("to_bf16", x);
    }

    /**
     * {@code conv2d(x, weight, bias)} with a square stride and padding and no dilation, in bfloat16.
     *
     * @param x      float32 {@code [batch, in, h, w]}
     * @param weight bfloat16 {@code [out, in, k, k]} (from {@link #toBf16})
     * @param bias   bfloat16 {@code [out]}
     */
    public NDArray conv2d(NDArray x, NDArray weight, NDArray bias, long stride, long padding) {
        return call(convolution(stride, padding), x, weight, bias);
    }

    /**
     * {@code x weight^T + bias} over the last axis, in bfloat16.
     *
     * @param x      float32 {@code [..., in]}
     * @param weight bfloat16 {@code [out, in]}
     * @param bias   bfloat16 {@code [out]}, or {@code null}
     */
    public NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return bias == null ? call("linear_no_bias", x, weight) : call("linear", x, weight, bias);
    }

    /** The batched product {@code a b} of float32 {@code [n, p, q]} and {@code [n, q, r]}, in bfloat16. */
    public NDArray batchMatMul(NDArray a, NDArray b) {
        return call("bmm", a, b);
    }

    /**
     * {@code softmax(q k^T) v} over {@code [n, pixels, d]} arrays, by libtorch's fused (flash) attention in
     * bfloat16: the probabilities are never materialised, so there are none to record. {@code q} must already carry
     * the {@code d^-0.5} scale.
     */
    public NDArray attention(NDArray query, NDArray key, NDArray value) {
        return call("attention", query, key, value);
    }

    private NDArray call(String method, NDArray first, NDArray... rest) {
        NDList inputs = new NDList(rest.length + 2);
        // the first input's manager receives the result; the selector names the method and is not an argument
        inputs.add(first);
        inputs.add(selectors.computeIfAbsent(method, this::selector));
        for (NDArray array : rest) {
            inputs.add(array);
        }
        return IValueUtils.forward(module, inputs, true).singletonOrThrow();
    }

    private NDArray selector(String method) {
        NDArray selector = manager.create("");
        selector.setName("module_method:" + method);
        return selector;
    }

    private static String convolution(long stride, long padding) {
        for (int s : STRIDES) {
            for (int p : PADDINGS) {
                if (s == stride && p == padding) {
                    return "conv_s" + s + "_p" + p;
                }
            }
        }
        throw new IllegalArgumentException("No bfloat16 convolution with stride " + stride + " and padding "
                + padding + " (the networks use strides 1 and 2 with padding 0 or 1)");
    }

    /** The module: every method casts its float32 inputs down and its result up. */
    static byte[] archive() {
        String self = "self: __torch__." + CLASS_NAME;
        StringBuilder methods = new StringBuilder();
        methods.append(method("to_bf16", self, "x: Tensor", "torch.to(x, " + BFLOAT16 + ")"));
        for (int s : STRIDES) {
            for (int p : PADDINGS) {
                methods.append(method("conv_s" + s + "_p" + p, self, "x: Tensor, w: Tensor, b: Tensor",
                        up("torch.conv2d(" + down("x") + ", w, b, [" + s + ", " + s + "], [" + p + ", " + p
                                + "], [1, 1], 1)")));
            }
        }
        methods.append(method("linear", self, "x: Tensor, w: Tensor, b: Tensor", up("torch.linear(" + down("x")
                + ", w, b)")));
        methods.append(method("linear_no_bias", self, "x: Tensor, w: Tensor", up("torch.linear(" + down("x")
                + ", w)")));
        methods.append(method("bmm", self, "a: Tensor, b: Tensor", up("torch.bmm(" + down("a") + ", " + down("b")
                + ")")));
        // flash attention (libtorch's CPU kernel wants [batch, heads, n, d]); the query comes scaled
        String unbatched = "torch.unsqueeze(" + down("%s") + ", 0)";
        methods.append(method("attention", self, "q: Tensor, k: Tensor, v: Tensor",
                up("torch.squeeze(torch.scaled_dot_product_attention(" + unbatched.formatted("q") + ", "
                        + unbatched.formatted("k") + ", " + unbatched.formatted("v")
                        + ", None, 0., False, scale=1.), 0)")));
        return TorchScriptArchive.module(CLASS_NAME, methods.toString());
    }

    private static String method(String name, String self, String parameters, String result) {
        return "  def " + name + "(" + self + ", " + parameters + ") -> Tensor:\n"
                + "    return " + result + "\n";
    }

    private static String down(String x) {
        return "torch.to(" + x + ", " + BFLOAT16 + ")";
    }

    private static String up(String x) {
        return "torch.to(" + x + ", " + FLOAT32 + ")";
    }
}
