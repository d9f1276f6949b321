package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import dev.suppress.core.backend.Precision;


/**
 * Maps core's {@link Precision} to the libtorch type the networks hold their weights in and compute with, and casts
 * at the module boundaries as PyTorch's autocast does: inputs down to the compute type, outputs up to float32.
 *
 * <p>What each precision does on DJL 0.36 with libtorch 2.7.1 (measured, see the module README):
 * <ul>
 *   <li>{@link Precision#FP32}: everything in float32.</li>
 *   <li>{@link Precision#FP16}: on a CUDA device only. On a CPU it is refused: libtorch's CPU float16 convolution
 *       (no oneDNN half kernels without avx512_fp16/AMX-FP16) ran a 320-channel 3x3 convolution at 64x64 in 27-31 s
 *       against 0.11-0.15 s in float32.</li>
 *   <li>{@link Precision#BF16}: autocast's bfloat16 on any device: convolution and linear layers hold their matrices
 *       in bfloat16 and compute through {@link Bf16Kernels} (oneDNN's bfloat16 kernels on a CPU with
 *       {@code avx512_bf16} or AMX), and attention whose probabilities are not recorded runs fused in bfloat16;
 *       activations, norms, the recorded layers' softmax and products, and everything outside the networks
 *       (scheduler, SWR, the ITO loss, the optimised embedding) stay float32. Slower than float32 on a CPU without
 *       native bfloat16.</li>
 *   <li>{@link Precision#AUTO}: float16 on a CUDA device; on a CPU bfloat16 when the processor has native
 *       bfloat16 arithmetic ({@code avx512_bf16} or {@code amx_bf16} in {@code /proc/cpuinfo}), else float32.</li>
 * </ul>
 */
public final class ComputePrecision {

    private ComputePrecision() {
    }

    /**
     * The precision used for {@code requested} on {@code device}: {@link Precision#AUTO} resolved, the others as
     * given when the device supports them.
     *
     * @throws IllegalArgumentException for {@link Precision#FP16} on a CPU, saying
     *                                  why and what to use instead
     */
    public static Precision resolve(Precision requested, ai.djl.Device device) {
        return switch (requested) {
            case AUTO -> device.isGpu() ? Precision.FP16 : cpuHasNativeBf16() ? Precision.BF16 : Precision.FP32;
            case FP32 -> Precision.FP32;
            case FP16 -> {
                if (!device.isGpu()) {
                    throw new IllegalArgumentException("Precision fp16 is not supported on the CPU: libtorch's CPU "
                            + "float16 convolutions are a few hundred times slower than float32 (27 s against 0.1 s "
                            + "for one SD 1.5 convolution at 64x64 latents); use fp32 or auto");
                }
                yield Precision.FP16;
            }
            case BF16 -> Precision.BF16;
        };
    }

    private static volatile Boolean nativeBf16;

    /**
     * True when this machine's processor does bfloat16 arithmetic in hardware: {@code /proc/cpuinfo} lists
     * {@code avx512_bf16} or {@code amx_bf16} (false where the file cannot be read, as off Linux).
     */
    public static boolean cpuHasNativeBf16() {
        Boolean known = nativeBf16;
        if (known == null) {
            String cpuinfo;
            try {
                cpuinfo = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/cpuinfo"));
            } catch (java.io.IOException | SecurityException e) {
                cpuinfo = "";
            }
            known = listsNativeBf16(cpuinfo);
            nativeBf16 = known;
        }
        return known;
    }

    /** True when a {@code flags} line of {@code cpuinfo} names {@code avx512_bf16} or {@code amx_bf16}. */
    static boolean listsNativeBf16(String cpuinfo) {
        for (String line : cpuinfo.split("\n")) {
            if (line.startsWith("flags")) {
                for (String flag : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) {
                    if (flag.equals("avx512_bf16") || flag.equals("amx_bf16")) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /** The libtorch type of a resolved precision. */
    public static DataType dataType(Precision precision) {
        return switch (precision) {
            case FP32 -> DataType.FLOAT32;
            case BF16 -> DataType.BFLOAT16;
            case FP16 -> DataType.FLOAT16;
            case AUTO -> throw new IllegalArgumentException("Resolve Precision.AUTO for a device first");
        };
    }

    /** The precision of a libtorch floating type. */
    public static Precision of(DataType type) {
        return switch (type) {
            case FLOAT32 -> Precision.FP32;
            case BFLOAT16 -> Precision.BF16;
            case FLOAT16 -> Precision.FP16;
            default -> throw new IllegalArgumentException("Not a compute type: " + type);
        };
    }

    /**
     * {@code x} in {@code type}: {@code x} itself when it already is, else a new array in {@code x}'s manager.
     *
     * <p>DJL's {@code toType} runs under libtorch's {@code NoGradGuard}, so it would cut the autograd graph (the
     * probe's gradient would never reach the float32 context). While a gradient collector records (libtorch's grad
     * mode is on), the cast therefore adds {@code x} in place into zeros of the target type ({@code add_} keeps its
     * receiver's type and is recorded), one more pass over the array; otherwise it is {@code toType}. (DJL's
     * {@code hasGradient()} is false for intermediate arrays, so it cannot tell which arrays autograd tracks.)
     */
    public static NDArray cast(NDArray x, DataType type) {
        if (x.getDataType() == type) {
            return x;
        }
        return JniUtils.isGradMode() ? x.getManager().zeros(x.getShape(), type).addi(x) : x.toType(type, false);
    }

    /** {@code x} as float32, see {@link #cast}. */
    public static NDArray toFloat32(NDArray x) {
        return cast(x, DataType.FLOAT32);
    }
}
