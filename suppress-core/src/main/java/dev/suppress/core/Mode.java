package dev.suppress.core;

/** How a run schedules its UNet work. */
public enum Mode {
    /**
     * The default: the same method with the work the reference repeats or discards left out. Before τ the two
     * branches are one; the ITO reference maps come from the original branch's own conditional pass of the step;
     * probes stop the UNet after the last captured attention layer; ITO starts each step from the previous step's
     * result, takes a few steps and keeps the best iterate ({@link dev.suppress.core.ito.FastItoOptions}); with
     * {@code suppressedOnly} the original branch stops after the last ITO step. The displayed cross-attention maps
     * average the heads the ITO uses.
     */
    FAST,
    /**
     * The reference's full two-branch schedule whatever the request (ALGORITHM.md §3-§5): both branches at every
     * step, a separate full UNet pass for the ITO reference maps, full forward and backward passes for every ITO
     * iteration, ITO restarting from SWR at every step. Reproduces the published implementation's numbers, and is
     * the yardstick fast mode is measured against.
     */
    REFERENCE
}
