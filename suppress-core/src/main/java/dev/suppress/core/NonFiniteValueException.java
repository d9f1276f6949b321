package dev.suppress.core;

/**
 * A NaN or an infinity appeared during a generation, and the run was stopped there rather than decoding garbage.
 *
 * <p>The message names the denoising step, the branch (original or suppressed), the component that produced the
 * value (text encoder, UNet noise prediction or attention maps, DDIM step, ITO loss or gradient, VAE decoder) and,
 * when the networks compute in fp16 or bf16, says so: half precision overflows above 65504, the usual cause.
 */
public class NonFiniteValueException extends ArithmeticException {

    private static final long serialVersionUID = 1L;

    /** No denoising step: the value appeared before the first step (text encoding) or after the last (decoding). */
    public static final int NO_STEP = -1;

    private final int stepIndex;
    private final String branch;
    private final String component;

    /**
     * @param message   the whole message
     * @param stepIndex the denoising step {@code 0 .. S-1}, or {@link #NO_STEP}
     * @param branch    {@code original}, {@code suppressed}, {@code both} or {@code none}
     * @param component what produced the value, e.g. {@code UNet noise prediction}
     */
    public NonFiniteValueException(String message, int stepIndex, String branch, String component) {
        super(message);
        this.stepIndex = stepIndex;
        this.branch = branch;
        this.component = component;
    }

    /** The denoising step, or {@link #NO_STEP}. */
    public int stepIndex() {
        return stepIndex;
    }

    /** The branch: {@code original}, {@code suppressed}, {@code both} or {@code none}. */
    public String branch() {
        return branch;
    }

    /** The component that produced the value. */
    public String component() {
        return component;
    }
}
