package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.NativeMemory;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The VAE decoder of a diffusers folder ({@code vae/}) on DJL: {@code AutoencoderKL.decode} of
 * {@code latents / scaling_factor} (ALGORITHM.md §5: {@code vae.decode(latents / 0.18215)}).
 *
 * <p>Each call runs in its own NDManager, closed before it returns. Safe for concurrent calls.
 */
public final class DjlLatentDecoder implements LatentDecoder {

    /** The modules of the decoding half. */
    private record Modules(Conv2d postQuantConv, Decoder decoder) {
    }

    private final VaePart<Modules> part;
    private final VaeTiling tiling;

    private DjlLatentDecoder(VaePart<Modules> part, VaeTiling tiling) {
        this.part = part;
        this.tiling = tiling;
    }

    /**
     * Loads the decoder half of {@code vaeFolder} ({@code post_quant_conv.*}, {@code decoder.*}); the encoder's
     * tensors in the same file are skipped.
     *
     * @param device where to compute, from {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(Path vaeFolder, ai.djl.Device device) {
        return open(vaeFolder, device, DataType.FLOAT32);
    }

    /**
     * Loads the decoder half computing in {@code computeType}; latents in and images out stay float32.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(Path vaeFolder, ai.djl.Device device, DataType computeType) {
        return open(vaeFolder, device, computeType, VaeTiling.DEFAULT);
    }

    /**
     * Loads the decoder half computing in {@code computeType}, decoding latents larger than a tile in blended tiles.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(Path vaeFolder, ai.djl.Device device, DataType computeType,
                                        VaeTiling tiling) {
        return open(PartSource.folder(vaeFolder), device, computeType, tiling);
    }

    /**
     * Loads the decoder half of the VAE that {@code source} configures and holds (a diffusers folder, or a
     * single-file checkpoint's view).
     *
     * @throws dev.suppress.core.io.ModelFormatException when the source does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(PartSource source, ai.djl.Device device, DataType computeType,
                                        VaeTiling tiling) {
        return new DjlLatentDecoder(VaePart.load(source, device, computeType, "decoder",
                List.of("encoder.", "quant_conv."), DjlLatentDecoder::modules), tiling);
    }

    /**
     * The key and shape of every parameter of the decoder half ({@code post_quant_conv.*}, {@code decoder.*}) that
     * {@code vaeFolder/config.json} describes, in loading order; no weights are read. With
     * {@link DjlLatentEncoder#parameterShapes} this is the whole {@code AutoencoderKL}.
     *
     * @return a new unmodifiable map of new arrays
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    public static Map<String, long[]> parameterShapes(Path vaeFolder) {
        return VaePart.parameterShapes(vaeFolder, DjlLatentDecoder::modules);
    }

    private static Modules modules(WeightLoader loader, AutoencoderKLConfig config) {
        return new Modules(
                new Conv2d(loader, "post_quant_conv", config.latentChannels(), config.latentChannels(), 1, 1, 0),
                new Decoder(loader, config));
    }

    /**
     * Decodes one image at a time (diffusers' {@code enable_slicing}): peak memory is one image's decoder
     * activations whatever the batch; and each image in blended tiles when its latent is larger than a tile
     * ({@link VaeTiling}).
     *
     * @param latents {@code [batch, latent, h, w]} as the UNet sees them (scaled); not modified
     * @return images {@code [batch, out, f*h, f*w]} ({@code f = 8} for SD), nominally in {@code [-1, 1]}, unclamped
     * @throws IllegalArgumentException when the shape does not fit
     * @throws IllegalStateException    after {@link #close()}
     */
    @Override
    public Tensor decode(Tensor latents) {
        return decode(latents, () -> {
        });
    }

    /**
     * {@link #decode(Tensor)}, running {@code beforeEachPass} before each image's pass, or each tile's when the
     * image is tiled; what it throws propagates, with every NDManager of the call closed.
     */
    @Override
    public Tensor decode(Tensor latents, Runnable beforeEachPass) {
        int channels = part.config().latentChannels();
        if (latents.rank() != 4 || latents.dim(1) != channels || latents.dim(0) < 1) {
            throw new IllegalArgumentException("Expected latents [batch, " + channels + ", h, w], got "
                    + Arrays.toString(latents.shape()));
        }
        if (!part.weights().isOpen()) {
            throw new IllegalStateException("DjlLatentDecoder is closed");
        }
        int batch = latents.dim(0);
        int height = latents.dim(2);
        int width = latents.dim(3);
        int factor = part.config().downsampleFactor();
        int out = part.config().outChannels();
        int imageSize = out * height * factor * width * factor;
        float[] images = new float[batch * imageSize];
        for (int index = 0; index < batch; index++) {
            Tensor latent = latents.batchElement(index);
            Tensor image = tiling.tiles(height, width) ? decodeTiled(latent, factor, beforeEachPass)
                    : decodeWhole(latent, beforeEachPass);
            image.copyTo(images, index * imageSize);
        }
        return Tensor.wrapOwned(images, batch, out, height * factor, width * factor);
    }

    /** One latent {@code [1, c, h, w]} through the decoder, in its own NDManager. */
    private Tensor decodeWhole(Tensor latent, Runnable beforePass) {
        beforePass.run();
        NativeMemory.releaseFreed();
        try (NDManager scope = part.weights().newSubManager()) {
            NDArray z = ComputePrecision.cast(Tensors.toNDArray(scope, latent)
                    .div(Tensors.scalar(scope, part.config().scalingFactor())), part.computeType());
            Modules modules = part.modules();
            return Tensors.toTensor(modules.decoder().forward(modules.postQuantConv().forward(z)));
        }
    }

    /**
     * diffusers {@code AutoencoderKL.tiled_decode}: tiles at latent origins {@code 0, stride, 2*stride...} in both
     * axes, each blended with the (already blended) tile above and the one to its left, then cropped to
     * {@code rowLimit} pixels and concatenated.
     */
    private Tensor decodeTiled(Tensor latent, int factor, Runnable beforeEachTile) {
        int height = latent.dim(2);
        int width = latent.dim(3);
        int stride = tiling.latentStride();
        int tile = tiling.tileLatentSize();
        int blend = tiling.blendExtent(factor);
        int rowLimit = tile * factor - blend;
        List<List<Tensor>> rows = new ArrayList<>();
        for (int top = 0; top < height; top += stride) {
            List<Tensor> row = new ArrayList<>();
            for (int left = 0; left < width; left += stride) {
                row.add(decodeWhole(crop(latent, top, left, Math.min(tile, height - top),
                        Math.min(tile, width - left)), beforeEachTile));
            }
            rows.add(row);
        }
        int out = part.config().outChannels();
        int imageHeight = height * factor;
        int imageWidth = width * factor;
        float[] image = new float[out * imageHeight * imageWidth];
        int y = 0;
        for (int i = 0; i < rows.size(); i++) {
            List<Tensor> row = rows.get(i);
            int x = 0;
            int placedHeight = 0;
            for (int j = 0; j < row.size(); j++) {
                float[] current = row.get(j).toArray();
                int[] shape = row.get(j).shape();
                if (i > 0) {
                    blendVerticalInPlace(rows.get(i - 1).get(j), current, shape, blend);
                }
                if (j > 0) {
                    blendHorizontalInPlace(row.get(j - 1), current, shape, blend);
                }
                Tensor blended = Tensor.wrapOwned(current, shape);
                row.set(j, blended);
                int keptHeight = Math.min(rowLimit, shape[2]);
                int keptWidth = Math.min(rowLimit, shape[3]);
                for (int channel = 0; channel < out; channel++) {
                    for (int r = 0; r < keptHeight; r++) {
                        System.arraycopy(current, (channel * shape[2] + r) * shape[3], image,
                                (channel * imageHeight + y + r) * imageWidth + x, keptWidth);
                    }
                }
                x += keptWidth;
                placedHeight = keptHeight;
            }
            y += placedHeight;
        }
        return Tensor.wrapOwned(image, 1, out, imageHeight, imageWidth);
    }

    /** {@code latent[:, :, top:top+rows, left:left+columns]} of a {@code [1, c, h, w]} latent. */
    private static Tensor crop(Tensor latent, int top, int left, int rows, int columns) {
        int channels = latent.dim(1);
        int height = latent.dim(2);
        int width = latent.dim(3);
        float[] source = latent.toArray();
        float[] cropped = new float[channels * rows * columns];
        for (int channel = 0; channel < channels; channel++) {
            for (int r = 0; r < rows; r++) {
                System.arraycopy(source, (channel * height + top + r) * width + left, cropped,
                        (channel * rows + r) * columns, columns);
            }
        }
        return Tensor.wrapOwned(cropped, 1, channels, rows, columns);
    }

    /**
     * diffusers {@code blend_v}: the first {@code extent} rows of {@code below} become
     * {@code above[-extent + y] * (1 - y / extent) + below[y] * (y / extent)}, with {@code extent} capped at both
     * tiles' heights. Both tiles have the same width (the same column of tiles).
     *
     * @param below {@code [1, c, h, w]} values of {@code shape}; modified
     */
    static void blendVerticalInPlace(Tensor above, float[] below, int[] shape, int extent) {
        int channels = shape[1];
        int height = shape[2];
        int width = shape[3];
        int aboveHeight = above.dim(2);
        int band = Math.min(extent, Math.min(aboveHeight, height));
        float[] upper = above.toArray();
        for (int channel = 0; channel < channels; channel++) {
            for (int y = 0; y < band; y++) {
                double weight = (double) y / band;
                int target = (channel * height + y) * width;
                int source = (channel * aboveHeight + aboveHeight - band + y) * width;
                for (int x = 0; x < width; x++) {
                    below[target + x] = (float) (upper[source + x] * (1 - weight) + below[target + x] * weight);
                }
            }
        }
    }

    /**
     * diffusers {@code blend_h}: the first {@code extent} columns of {@code right} become
     * {@code left[:, -extent + x] * (1 - x / extent) + right[:, x] * (x / extent)}, {@code extent} capped at both
     * tiles' widths. Both tiles have the same height (the same row of tiles).
     *
     * @param right {@code [1, c, h, w]} values of {@code shape}; modified
     */
    static void blendHorizontalInPlace(Tensor left, float[] right, int[] shape, int extent) {
        int channels = shape[1];
        int height = shape[2];
        int width = shape[3];
        int leftWidth = left.dim(3);
        int band = Math.min(extent, Math.min(leftWidth, width));
        float[] former = left.toArray();
        for (int channel = 0; channel < channels; channel++) {
            for (int y = 0; y < height; y++) {
                int target = (channel * height + y) * width;
                int source = (channel * height + y) * leftWidth + leftWidth - band;
                for (int x = 0; x < band; x++) {
                    double weight = (double) x / band;
                    right[target + x] = (float) (former[source + x] * (1 - weight) + right[target + x] * weight);
                }
            }
        }
    }

    /** The VAE's {@code scaling_factor}. */
    public double scalingFactor() {
        return part.config().scalingFactor();
    }

    /** The weights file that was loaded. */
    public Path weightsFile() {
        return part.file();
    }

    @Override
    public void close() {
        part.weights().close();
    }

    @Override
    public String toString() {
        return "DjlLatentDecoder[" + part.file() + "]";
    }
}
