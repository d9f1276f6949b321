package dev.suppress.core;

import java.util.ArrayList;
import java.util.List;

/**
 * The denoising steps at which ITO runs, as a fraction of the schedule or as explicit steps.
 *
 * <p>As fractions, step {@code i} (0-based, from the noisiest) is in the window when {@code start ≤ i/S < end}: the
 * default {@code [0.2, 0.4)} is steps 10-19 of 50 (the reference's), 5-9 of 25 and 20-39 of 100. ITO also needs the
 * suppressed branch to have departed (step {@code ⌈(1−τ)·S⌉} on), so the steps it runs at are this window from τ on.
 *
 * @param start     the first fraction (fractions) or the first step (explicit steps)
 * @param end       the end fraction, exclusive (fractions) or the last step, inclusive (explicit steps)
 * @param explicit  whether {@code start} and {@code end} are step indices
 */
public record ItoWindow(double start, double end, boolean explicit) {

    /** The reference's window: steps 10-19 of 50. */
    public static final ItoWindow REFERENCE = fractions(0.2, 0.4);

    public ItoWindow {
        if (explicit) {
            if (start < 0 || end < start || start != Math.rint(start) || end != Math.rint(end)) {
                throw new IllegalArgumentException("ITO steps must be whole steps first <= last, both >= 0, got "
                        + (long) start + "-" + (long) end);
            }
        } else if (!(start >= 0 && start <= 1 && end >= start && end <= 1)) {
            throw new IllegalArgumentException("The ITO window must be fractions 0 <= start <= end <= 1, got "
                    + start + ":" + end);
        }
    }

    /** Steps {@code i} with {@code start ≤ i/S < end}. */
    public static ItoWindow fractions(double start, double end) {
        return new ItoWindow(start, end, false);
    }

    /** Steps {@code first .. last}, both included. */
    public static ItoWindow steps(int first, int last) {
        return new ItoWindow(first, last, true);
    }

    /** Whether step {@code stepIndex} of {@code steps} is in the window. */
    public boolean contains(int stepIndex, int steps) {
        if (explicit) {
            return stepIndex >= start && stepIndex <= end;
        }
        // i/S >= start and i/S < end, as ceilings so that 0.2 * 50 is exactly step 10 (1e-9 absorbs the product's
        // rounding: 0.2 * 50 = 10.000000000000002)
        return stepIndex >= Math.ceil(start * steps - 1e-9) && stepIndex < Math.ceil(end * steps - 1e-9);
    }

    /** The window's steps among {@code from .. steps-1}. */
    public List<Integer> stepsFrom(int from, int steps) {
        List<Integer> out = new ArrayList<>();
        for (int i = Math.max(0, from); i < steps; i++) {
            if (contains(i, steps)) {
                out.add(i);
            }
        }
        return out;
    }

    @Override
    public String toString() {
        return explicit ? "steps " + (long) start + "-" + (long) end : "[" + start + ", " + end + ")";
    }
}
