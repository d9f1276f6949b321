/**
 * Building blocks shared by the CLIP, UNet and VAE networks, each mirroring a torch or diffusers module
 * ({@code Linear}, {@code Conv2d}, {@code GroupNorm}, {@code LayerNorm}, {@code ResnetBlock2D},
 * {@code Downsample2D}, {@code Upsample2D}), plus the PyTorch runtime and the seam conversions.
 *
 * <p>Modules hold their parameters as loaded (weights are never transformed per call) and compute with the
 * activation as the receiver of every operation, so that results attach to the call's NDManager and never to the
 * capped weights' manager. Public for the sibling packages; not a stable API.
 */
package dev.suppress.djl.nn;
