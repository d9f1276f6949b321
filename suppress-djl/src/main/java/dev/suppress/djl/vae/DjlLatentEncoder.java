package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.NativeMemory;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.TensorSource;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The VAE encoder of a diffusers folder ({@code vae/}) on DJL: the posterior mean of {@code AutoencoderKL.encode}
 * (the first {@code latent} channels of {@code quant_conv(encoder(x))}) times {@code scaling_factor}, as the
 * reference's {@code NullInversion.image2latent} computes it.
 *
 * <p>Each call runs in its own NDManager, closed before it returns. Safe for concurrent calls.
 */
public final class DjlLatentEncoder implements LatentEncoder {

    /** The modules of the encoding half. */
    private record Modules(Encoder encoder, Conv2d quantConv) {
    }

    private final VaePart<Modules> part;

    private DjlLatentEncoder(VaePart<Modules> part) {
        this.part = part;
    }

    /**
     * Loads the encoder half of {@code vaeFolder} ({@code encoder.*}, {@code quant_conv.*}); the decoder's tensors
     * in the same file are skipped.
     *
     * @param device where to compute, from {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentEncoder open(Path vaeFolder, ai.djl.Device device) {
        return open(vaeFolder, device, DataType.FLOAT32);
    }

    /**
     * Loads the encoder half computing in {@code computeType}; images in and latents out stay float32.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentEncoder open(Path vaeFolder, ai.djl.Device device, DataType computeType) {
        return open(PartSource.folder(vaeFolder), device, computeType);
    }

    /**
     * Loads the encoder half of the VAE that {@code source} configures and holds (a diffusers folder, or a
     * single-file checkpoint's view).
     *
     * @throws dev.suppress.core.io.ModelFormatException when the source does not hold a supported AutoencoderKL
     */
    public static DjlLatentEncoder open(PartSource source, ai.djl.Device device, DataType computeType) {
        return new DjlLatentEncoder(VaePart.load(source, device, computeType, "encoder",
                List.of("decoder.", "post_quant_conv."), DjlLatentEncoder::modules));
    }

    /**
     * The key and shape of every parameter of the encoder half ({@code encoder.*}, {@code quant_conv.*}) that
     * {@code vaeFolder/config.json} describes, in loading order; no weights are read. With
     * {@link DjlLatentDecoder#parameterShapes} this is the whole {@code AutoencoderKL}.
     *
     * @return a new unmodifiable map of new arrays
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    public static Map<String, long[]> parameterShapes(Path vaeFolder) {
        return VaePart.parameterShapes(vaeFolder, DjlLatentEncoder::modules);
    }

    private static Modules modules(WeightLoader loader, AutoencoderKLConfig config) {
        return new Modules(new Encoder(loader, config),
                new Conv2d(loader, "quant_conv", 2 * config.latentChannels(), 2 * config.latentChannels(), 1, 1, 0));
    }

    /**
     * True when the weights of {@code vaeFolder} include an encoder (some VAE downloads are decoder-only).
     *
     * @throws dev.suppress.core.io.ModelFormatException when the folder has no readable weights file
     */
    public static boolean isPresent(Path vaeFolder) {
        return isPresent(PartSource.folder(vaeFolder));
    }

    /**
     * True when the VAE weights of {@code source} include an encoder.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the source has no readable weights
     */
    public static boolean isPresent(PartSource source) {
        try (TensorSource file = source.openWeights(false)) {
            for (String name : file.names()) {
                if (name.startsWith("encoder.")) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * @param images {@code [batch, in, H, W]} in {@code [-1, 1]}, sides multiples of the downsampling factor (8);
     *               not modified
     * @return latents {@code [batch, latent, H/8, W/8]}: posterior mean times {@code scaling_factor}
     * @throws IllegalArgumentException when the shape does not fit
     * @throws IllegalStateException    after {@link #close()}
     */
    @Override
    public Tensor encode(Tensor images) {
        AutoencoderKLConfig config = part.config();
        int factor = config.downsampleFactor();
        if (images.rank() != 4 || images.dim(1) != config.inChannels() || images.dim(0) < 1
                || images.dim(2) % factor != 0 || images.dim(3) % factor != 0) {
            throw new IllegalArgumentException("Expected images [batch, " + config.inChannels()
                    + ", H, W] with H and W multiples of " + factor + ", got " + Arrays.toString(images.shape()));
        }
        if (!part.weights().isOpen()) {
            throw new IllegalStateException("DjlLatentEncoder is closed");
        }
        NativeMemory.releaseFreed();
        try (NDManager scope = part.weights().newSubManager()) {
            Modules modules = part.modules();
            NDArray input = ComputePrecision.cast(Tensors.toNDArray(scope, images), part.computeType());
            NDArray moments = modules.quantConv().forward(modules.encoder().forward(input));
            // DiagonalGaussianDistribution: mean, logvar = torch.chunk(moments, 2, dim=1)
            NDArray mean = moments.get(":, 0:{}", config.latentChannels());
            return Tensors.toTensor(mean.mul(Tensors.scalar(scope, config.scalingFactor())));
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
        return "DjlLatentEncoder[" + part.file() + "]";
    }
}
