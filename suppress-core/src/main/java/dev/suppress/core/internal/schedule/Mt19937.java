package dev.suppress.core.internal.schedule;

/**
 * The 32-bit Mersenne Twister exactly as PyTorch's CPU generator runs it ({@code at::mt19937} in
 * {@code aten/src/ATen/core/MT19937RNGEngine.h}): the 2002 {@code init_genrand} seeding of the low 32 bits of the
 * seed, then the standard twist and tempering. Its output equals C++ {@code std::mt19937} for the same 32-bit seed.
 *
 * <p>Mutable and not thread-safe: one instance per stream.
 */
final class Mt19937 {

    private static final int STATE_SIZE = 624;
    private static final int SHIFT_SIZE = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;

    private final int[] state = new int[STATE_SIZE];
    private int next;

    /** Seeds like {@code at::mt19937(seed)}: only the low 32 bits of {@code seed} are used. */
    Mt19937(long seed) {
        state[0] = (int) seed;
        for (int j = 1; j < STATE_SIZE; j++) {
            state[j] = 1812433253 * (state[j - 1] ^ (state[j - 1] >>> 30)) + j;
        }
        // at::mt19937 starts with left_ = 1, so the first draw twists the freshly seeded state.
        next = STATE_SIZE;
    }

    /** The next 32 random bits, as an int (read it unsigned with {@code & 0xffffffffL}). */
    int nextInt() {
        if (next == STATE_SIZE) {
            twist();
        }
        int y = state[next++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int k = 0; k < STATE_SIZE; k++) {
            // Entries before k were already replaced in this pass, as in the reference's in-place loop.
            int mixed = (state[k] & UPPER_MASK) | (state[(k + 1) % STATE_SIZE] & LOWER_MASK);
            state[k] = state[(k + SHIFT_SIZE) % STATE_SIZE] ^ (mixed >>> 1) ^ ((mixed & 1) != 0 ? MATRIX_A : 0);
        }
        next = 0;
    }
}
