package dev.suppress.djl.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
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

    private DjlLatentDecoder(VaePart<Modules> part) {
        this.part = part;
    }

    /**
     * Loads the decoder half of {@code vaeFolder} ({@code post_quant_conv.*}, {@code decoder.*}); the encoder's
     * tensors in the same file are skipped.
     *
     * @param device where to compute, from {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}
     * @throws dev.suppress.core.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(Path vaeFolder, ai.djl.Device device) {
        return open(vaeFolder, device, DataType.FLOAT32);
    }

    /**
     * Loads the decoder half computing in {@code computeType}; latents in and images out stay float32.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.ModelFormatException when the folder does not hold a supported AutoencoderKL
     */
    public static DjlLatentDecoder open(Path vaeFolder, ai.djl.Device device, DataType computeType) {
        return new DjlLatentDecoder(VaePart.load(vaeFolder, device, computeType, "decoder",
                List.of("encoder.", "quant_conv."), DjlLatentDecoder::modules));
    }

    /**
     * The key and shape of every parameter of the decoder half ({@code post_quant_conv.*}, {@code decoder.*}) that
     * {@code vaeFolder/config.json} describes, in loading order; no weights are read. With
     * {@link DjlLatentEncoder#parameterShapes} this is the whole {@code AutoencoderKL}.
     *
     * @return a new unmodifiable map of new arrays
     * @throws dev.suppress.core.ModelFormatException when the configuration is unsupported
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
     * @param latents {@code [batch, latent, h, w]} as the UNet sees them (scaled); not modified
     * @return images {@code [batch, out, f*h, f*w]} ({@code f = 8} for SD), nominally in {@code [-1, 1]}, unclamped
     * @throws IllegalArgumentException when the shape does not fit
     * @throws IllegalStateException    after {@link #close()}
     */
    @Override
    public Tensor decode(Tensor latents) {
        int channels = part.config().latentChannels();
        if (latents.rank() != 4 || latents.dim(1) != channels || latents.dim(0) < 1) {
            throw new IllegalArgumentException("Expected latents [batch, " + channels + ", h, w], got "
                    + Arrays.toString(latents.shape()));
        }
        if (!part.weights().isOpen()) {
            throw new IllegalStateException("DjlLatentDecoder is closed");
        }
        try (NDManager scope = part.weights().newSubManager()) {
            NDArray z = ComputePrecision.cast(Tensors.toNDArray(scope, latents)
                    .div(Tensors.scalar(scope, part.config().scalingFactor())), part.computeType());
            Modules modules = part.modules();
            return Tensors.toTensor(modules.decoder().forward(modules.postQuantConv().forward(z)));
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
