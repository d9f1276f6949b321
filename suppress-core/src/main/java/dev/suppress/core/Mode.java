package dev.suppress.core;

/** How faithfully a run follows the reference implementation's schedule. */
public enum Mode {
    /**
     * The reference's full two-branch schedule whatever the request (ALGORITHM.md §3-§5): both branches at every
     * step, a separate full UNet pass for the ITO reference maps, full forward and backward passes for every ITO
     * iteration, the first-half-of-heads averaging quirk. Reproduces the published implementation's numbers.
     */
    REFERENCE
}
