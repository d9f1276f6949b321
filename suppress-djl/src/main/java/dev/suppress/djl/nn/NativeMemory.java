package dev.suppress.djl.nn;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;

import java.util.Locale;

/**
 * How libtorch's CPU memory goes back to the system. libtorch allocates through glibc's {@code malloc}, whose
 * threshold for serving a block by {@code mmap} rises to the largest block freed (up to 32 MiB), after which the
 * activations of a pass are carved from the heap and stay resident when freed: on SD 1.5 at 512² a fast image held
 * 6.9 GB after its probes although the weights are 4.3 GB. A fixed threshold ({@code mallopt(M_MMAP_THRESHOLD)},
 * what the {@code MALLOC_MMAP_THRESHOLD_} environment variable sets at start-up) returns every block above it to the
 * system when it is freed; the cost is page faults on the next allocation (benchmarks/README.md measures both).
 *
 * <p>The system property {@value #PROPERTY} sets the threshold in bytes ({@code 0}: leave glibc's own). It is
 * applied once, before the first libtorch allocation; elsewhere than Linux with glibc nothing happens.
 */
public final class NativeMemory {

    /** The system property with the threshold in bytes. */
    public static final String PROPERTY = "suppress.mmapThreshold";
    /** The default threshold: 0, glibc's own (a fixed 1 MiB measured 30% slower on SD 1.5, benchmarks/README.md). */
    public static final long DEFAULT_THRESHOLD = 0;
    /** The system property that turns off {@link #releaseFreed} ({@code false}); on by default. */
    public static final String TRIM_PROPERTY = "suppress.mallocTrim";
    private static final boolean TRIM = !"false".equalsIgnoreCase(System.getProperty(TRIM_PROPERTY, "true").trim());
    private static volatile Function mallocTrim;
    private static volatile boolean trimUnavailable;
    /** glibc's {@code M_MMAP_THRESHOLD}. */
    private static final int M_MMAP_THRESHOLD = -3;

    private static volatile String applied;

    private NativeMemory() {
    }

    /**
     * Sets the threshold from {@value #PROPERTY} (or the default) the first time it is called.
     *
     * @return what was applied: the threshold in bytes, {@code "glibc default"}, or why nothing was
     * @throws IllegalArgumentException when the property is not a whole number of bytes in 0..2^31-1
     */
    public static synchronized String configure() {
        if (applied != null) {
            return applied;
        }
        long threshold = threshold(System.getProperty(PROPERTY));
        applied = threshold == 0 ? "glibc default" : set(threshold);
        return applied;
    }

    /**
     * Hands the heap's free pages back to the system ({@code malloc_trim(0)}), called when a network pass has freed
     * its activations: without it the process keeps the largest pass's working set resident for the rest of the run
     * (on SD 1.5 at 512² the probes' left 6.9 GB resident before the VAE decode). The next pass faults its pages in
     * again. Nothing happens where there is no glibc or when {@value #TRIM_PROPERTY} is {@code false}.
     */
    public static void releaseFreed() {
        if (!TRIM || trimUnavailable) {
            return;
        }
        Function trim = mallocTrim;
        if (trim == null) {
            try {
                trim = NativeLibrary.getInstance("c").getFunction("malloc_trim");
                mallocTrim = trim;
            } catch (UnsatisfiedLinkError e) {
                trimUnavailable = true;
                return;
            }
        }
        trim.invokeInt(new Object[] {0});
    }

    /**
     * The threshold a property value asks for: {@code null} gives the default.
     *
     * @throws IllegalArgumentException when it is not a whole number of bytes in 0..2^31-1
     */
    static long threshold(String value) {
        long threshold;
        try {
            threshold = value == null ? DEFAULT_THRESHOLD : Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("System property " + PROPERTY + " must be a number of bytes (0 keeps "
                    + "glibc's own threshold), got '" + value + "'", e);
        }
        if (threshold < 0 || threshold > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("System property " + PROPERTY + " must be in 0.." + Integer.MAX_VALUE
                    + " bytes, got " + threshold);
        }
        return threshold;
    }

    /** The OpenMP variable libtorch's CPU thread pool (libgomp) reads once, when libtorch is loaded. */
    public static final String WAIT_POLICY = "OMP_WAIT_POLICY";

    /**
     * Makes libtorch's idle pool threads sleep instead of spinning ({@code OMP_WAIT_POLICY=PASSIVE}) unless the
     * environment already sets {@value #WAIT_POLICY}; call it before the engine loads libtorch (a later call changes
     * nothing). With other processes keeping the cores busy, spinning workers take the cores their own partners
     * need: the built-in model's CLI run took 110 s with libgomp's default against 35 s passive (21 s and 25 s on
     * idle cores; one thread, 31 s busy). Where there is no libc {@code setenv} nothing happens.
     *
     * @return the policy in force for libtorch, or why none was set
     */
    public static synchronized String passiveThreadWaits() {
        String existing = System.getenv(WAIT_POLICY);
        if (existing != null) {
            return existing + " (from the environment)";
        }
        try {
            Function setenv = NativeLibrary.getInstance("c").getFunction("setenv");
            int failed = setenv.invokeInt(new Object[] {WAIT_POLICY, "PASSIVE", 0});
            return failed == 0 ? "PASSIVE" : "setenv failed";
        } catch (UnsatisfiedLinkError e) {
            return "no setenv: " + e.getMessage();
        }
    }

    private static String set(long threshold) {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            return "not Linux";
        }
        try {
            Function mallopt = NativeLibrary.getInstance("c").getFunction("mallopt");
            int ok = mallopt.invokeInt(new Object[] {M_MMAP_THRESHOLD, (int) threshold});
            return ok == 1 ? Long.toString(threshold) : "mallopt refused " + threshold;
        } catch (UnsatisfiedLinkError e) {
            // not glibc (musl has no mallopt)
            return "no mallopt: " + e.getMessage();
        }
    }
}
