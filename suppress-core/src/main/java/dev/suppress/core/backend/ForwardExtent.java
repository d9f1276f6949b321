package dev.suppress.core.backend;

/** How much of the UNet a gradient probe's forward pass runs. */
public enum ForwardExtent {
    /** The whole UNet, noise prediction included, as the reference's ITO passes do. */
    FULL,
    /**
     * Up to the last attention layer the capture needs: nothing after it changes the maps, and ITO never uses the
     * noise prediction.
     */
    THROUGH_CAPTURED_LAYERS
}
