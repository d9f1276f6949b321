package dev.suppress.djl.vae;

/**
 * Tiled VAE decoding as diffusers' {@code AutoencoderKL.enable_tiling()} / {@code tiled_decode} (v0.21.4): a latent
 * with a side above {@code tileLatentSize} is decoded in square tiles of that side, overlapping by
 * {@code overlap} of it; each tile's top and left {@code overlap * tileSample} pixels are blended linearly with its
 * neighbours ({@code blend_v}, {@code blend_h}), and tiles are cropped to {@code (1 - overlap) * tileSample} and
 * placed side by side. Peak memory is then that of one tile, whatever the image size.
 *
 * <p>The decoder's GroupNorms and mid-block attention see one tile instead of the whole image, so a tiled image
 * differs slightly from the untiled one (as in diffusers); images whose latent fits in one tile are decoded whole.
 *
 * @param tileLatentSize the tile side in latent pixels ({@code tile_latent_min_size}); {@link Integer#MAX_VALUE}
 *                       never tiles
 * @param overlap        the fraction of a tile shared with each neighbour ({@code tile_overlap_factor}), in
 *                       {@code [0, 1)}
 */
public record VaeTiling(int tileLatentSize, double overlap) {

    /**
     * diffusers' values for SD 1.x ({@code sample_size} 512): 64-latent (512-pixel) tiles overlapping by a quarter.
     * A 512x512 image is one tile and is decoded whole.
     */
    public static final VaeTiling DEFAULT = new VaeTiling(64, 0.25);

    /** Never tile. */
    public static final VaeTiling OFF = new VaeTiling(Integer.MAX_VALUE, 0.25);

    public VaeTiling {
        if (tileLatentSize < 2) {
            throw new IllegalArgumentException("VAE tile side must be at least 2 latent pixels, got "
                    + tileLatentSize);
        }
        if (!(overlap >= 0 && overlap < 1)) {
            throw new IllegalArgumentException("VAE tile overlap must be in [0, 1), got " + overlap);
        }
        if ((int) (tileLatentSize * (1 - overlap)) < 1) {
            throw new IllegalArgumentException("VAE tiles of " + tileLatentSize + " latent pixels overlapping by "
                    + overlap + " would not advance");
        }
    }

    /** True when a latent of this size is decoded in tiles. */
    boolean tiles(int latentHeight, int latentWidth) {
        return latentHeight > tileLatentSize || latentWidth > tileLatentSize;
    }

    /** The step between tile origins in latent pixels ({@code overlap_size}). */
    int latentStride() {
        return (int) (tileLatentSize * (1 - overlap));
    }

    /** The blended band in image pixels ({@code blend_extent}). */
    int blendExtent(int factor) {
        return (int) ((long) tileLatentSize * factor * overlap);
    }
}
