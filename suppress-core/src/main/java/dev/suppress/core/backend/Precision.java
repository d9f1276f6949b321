package dev.suppress.core.backend;

import java.util.Locale;

/**
 * The floating-point type a backend holds its weights in and computes its networks (text encoder, UNet, VAE) with.
 *
 * <p>As PyTorch's autocast: only the networks change type. Core's scheduler, soft-weighted regularization, the ITO
 * loss and its accumulation, and the embedding being optimised stay float32 (float64 where ALGORITHM.md says so);
 * a backend casts its inputs down and its outputs (noise predictions, attention maps, images, gradients) up to
 * float32 at the seams.
 */
public enum Precision {
    /** IEEE single precision: exact with respect to the reference (the parity tests and reference mode use it). */
    FP32,
    /** bfloat16: float32's range with an 8-bit mantissa (relative rounding error 2^-9 per value). */
    BF16,
    /** IEEE half precision: 11-bit mantissa but a range of +-65504; GPUs only (CPU kernels are slow or missing). */
    FP16,
    /** The backend chooses for its device: bf16 on a CPU with native bf16 or a GPU that has it, else fp16 on a GPU, else fp32. */
    AUTO;

    /**
     * Parses {@code fp32}, {@code bf16}, {@code fp16} or {@code auto} (case-insensitive; {@code float32},
     * {@code bfloat16}, {@code float16} and {@code half} also).
     *
     * @throws IllegalArgumentException naming the text when it is none of these
     */
    public static Precision parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32", "float" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            case "fp16", "f16", "float16", "half" -> FP16;
            case "auto" -> AUTO;
            default -> throw new IllegalArgumentException("Unknown precision '" + text
                    + "': expected fp32, bf16, fp16 or auto");
        };
    }

    /** The lower-case name printed and parsed: {@code fp32}, {@code bf16}, {@code fp16}, {@code auto}. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
