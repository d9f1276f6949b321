package dev.suppress.djl;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.Closeables;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.schedule.SchedulerConfig;
import ai.djl.ndarray.types.DataType;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.clip.SdxlTextEncoder;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.TorchRuntime;
import dev.suppress.djl.singlefile.PreparedCheckpoint;
import dev.suppress.djl.singlefile.SingleFileCheckpoint;
import dev.suppress.djl.unet.DjlGradientProbe;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import dev.suppress.djl.vae.DjlLatentEncoder;
import dev.suppress.djl.vae.VaeTiling;
import dev.suppress.djl.weights.PartSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A Stable Diffusion 1.x/2.x or SDXL model from an unchanged diffusers folder ({@code text_encoder/}, {@code unet/},
 * {@code vae/}, and SDXL's {@code text_encoder_2/} and {@code tokenizer_2/}, see {@link SdxlTextEncoder};
 * {@code tokenizer/} and {@code scheduler/} are core's), or from a single-file LDM checkpoint through
 * the folder {@link SingleFileCheckpoint#prepare()} writes for it, computed with DJL's PyTorch engine, with
 * an autograd {@link GradientProbe}.
 *
 * <p>Closing it closes every part even when one of them fails to close; the first failure is thrown with the
 * others suppressed.
 */
public final class DjlDiffusionBackend implements DiffusionBackend {

    /** The backend's name for {@link dev.suppress.core.backend.BackendProvider#name()}. */
    public static final String NAME = "djl";

    /** The folder of SDXL's second text encoder; its presence makes a folder SDXL. */
    static final String SECOND_TEXT_ENCODER = "text_encoder_2";

    private final TextEncoder textEncoder;
    private final DenoiserWithAttention denoiser;
    private final LatentDecoder decoder;
    private final LatentEncoder encoder;
    private final GradientProbe gradientProbe;
    private final Precision precision;

    /**
     * Assembles a backend from parts it then owns.
     *
     * @param encoder       may be {@code null} (decoder-only VAE)
     * @param gradientProbe may be {@code null}
     */
    DjlDiffusionBackend(TextEncoder textEncoder, DenoiserWithAttention denoiser, LatentDecoder decoder,
                        LatentEncoder encoder, GradientProbe gradientProbe) {
        this(textEncoder, denoiser, decoder, encoder, gradientProbe, Precision.FP32);
    }

    private DjlDiffusionBackend(TextEncoder textEncoder, DenoiserWithAttention denoiser, LatentDecoder decoder,
                                LatentEncoder encoder, GradientProbe gradientProbe, Precision precision) {
        this.precision = precision;
        this.textEncoder = Objects.requireNonNull(textEncoder, "textEncoder");
        this.denoiser = Objects.requireNonNull(denoiser, "denoiser");
        this.decoder = Objects.requireNonNull(decoder, "decoder");
        this.encoder = encoder;
        this.gradientProbe = gradientProbe;
    }

    /**
     * Loads every part of the model in {@code options.modelFolder()} onto the requested device, in the requested
     * precision ({@link ComputePrecision#resolve} says what {@link Precision#AUTO} picks). The CLIP text encoder,
     * the UNet and the VAE hold their weights and compute in it; under fp16 the VAE stays float32, because
     * decoders overflow float16's range (SDXL's does; diffusers' {@code force_upcast}) and a float32 VAE costs
     * little next to the UNet.
     *
     * @throws ModelFormatException     when the folder is not a supported diffusers Stable Diffusion model
     * @throws IllegalArgumentException when the precision is fp16 and the device a CPU
     * @throws IllegalStateException    when libtorch cannot be loaded, or a GPU is requested, unavailable and the
     *                                  CPU fallback is off (see {@link TorchRuntime#toDjlDevice})
     */
    public static DjlDiffusionBackend open(BackendOptions options) {
        Path folder = options.modelFolder();
        if (!Files.isDirectory(folder)) {
            throw new ModelFormatException(folder, "Model folder does not exist or is not a folder");
        }
        UNetDescription.PredictionType predictionType = SchedulerConfig.predictionTypeOfModelFolder(folder);
        ai.djl.Device device = TorchRuntime.toDjlDevice(options.device(), options.allowCpuFallback());
        Precision precision = ComputePrecision.resolve(options.precision(), device);
        if (SingleFileCheckpoint.isPrepared(folder)) {
            // a single-file checkpoint: the parts' weights are views over the one file, unmapped once all are loaded
            try (PreparedCheckpoint checkpoint = PreparedCheckpoint.open(folder)) {
                // SDXL: the prepared folder holds tokenizer_2 and model_index.json beside the configs
                PartSource second = checkpoint.secondTextEncoder().orElse(null);
                return open(checkpoint.textEncoder(), checkpoint.unet(), checkpoint.vae(), device, precision,
                        predictionType, second, second == null ? null : folder);
            }
        }
        DataType networks = ComputePrecision.dataType(precision);
        // the whole folder checked (tensors, configs, memory) before any weight is read
        DjlModelCheck.require(folder, precision, networks, precision == Precision.FP16 ? DataType.FLOAT32 : networks);
        Path sdxl = Files.isDirectory(folder.resolve(SECOND_TEXT_ENCODER)) ? folder : null;
        return open(PartSource.folder(folder.resolve("text_encoder")), PartSource.folder(folder.resolve("unet")),
                PartSource.folder(folder.resolve("vae")), device, precision, predictionType,
                sdxl == null ? null : PartSource.folder(sdxl.resolve(SECOND_TEXT_ENCODER)), sdxl);
    }

    /**
     * @param secondTextEncoderSource SDXL's {@code text_encoder_2}, or {@code null}
     * @param sdxlFolder              the SDXL folder whose tokenizers and {@code model_index.json} to read, or
     *                                {@code null}
     */
    private static DjlDiffusionBackend open(PartSource textEncoderSource, PartSource unetSource, PartSource vae,
                                            ai.djl.Device device, Precision precision,
                                            UNetDescription.PredictionType predictionType,
                                            PartSource secondTextEncoderSource, Path sdxlFolder) {
        DataType networks = ComputePrecision.dataType(precision);
        DataType vaeType = precision == Precision.FP16 ? DataType.FLOAT32 : networks;
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            DjlTextEncoder first = remember(opened, DjlTextEncoder.open(textEncoderSource, device, networks));
            // SDXL: the two encoders as one; its parts are closed with the others if a later part fails
            TextEncoder textEncoder = sdxlFolder == null ? first : SdxlTextEncoder.of(sdxlFolder, first,
                    remember(opened, DjlTextEncoder.open(secondTextEncoderSource, device, networks)),
                    forceZerosForEmptyPrompt(sdxlFolder));
            DjlDenoiser denoiser = remember(opened, DjlDenoiser.open(unetSource, device, predictionType, networks));
            DjlLatentDecoder decoder = remember(opened, DjlLatentDecoder.open(vae, device, vaeType,
                    VaeTiling.DEFAULT));
            DjlLatentEncoder encoder = DjlLatentEncoder.isPresent(vae)
                    ? remember(opened, DjlLatentEncoder.open(vae, device, vaeType)) : null;
            return new DjlDiffusionBackend(textEncoder, denoiser, decoder, encoder,
                    new DjlGradientProbe(denoiser), precision);
        } catch (RuntimeException | Error e) {
            Closeables.closeAfterFailure(e, opened);
            throw e;
        }
    }

    /**
     * {@code force_zeros_for_empty_prompt} of the folder's {@code model_index.json}; {@code true}, the SDXL
     * pipeline's default, when the file or the field is missing.
     */
    static boolean forceZerosForEmptyPrompt(Path folder) {
        Path index = folder.resolve("model_index.json");
        if (!Files.isRegularFile(index)) {
            return true;
        }
        try {
            com.fasterxml.jackson.databind.JsonNode field = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readTree(index.toFile()).path("force_zeros_for_empty_prompt");
            if (field.isMissingNode() || field.isNull()) {
                return true;
            }
            if (!field.isBoolean()) {
                throw new ModelFormatException(index, "force_zeros_for_empty_prompt must be true or false, found "
                        + field);
            }
            return field.booleanValue();
        } catch (java.io.IOException e) {
            throw new ModelFormatException(index, "model_index.json is not valid JSON: " + e.getMessage());
        }
    }

    private static <T extends AutoCloseable> T remember(List<AutoCloseable> opened, T part) {
        opened.add(part);
        return part;
    }

    @Override
    public String name() {
        return NAME;
    }

    /** The precision the text encoder and the UNet compute in (the VAE too, except float32 under fp16). */
    @Override
    public Precision precision() {
        return precision;
    }

    @Override
    public TextEncoder textEncoder() {
        return textEncoder;
    }

    @Override
    public DenoiserWithAttention denoiser() {
        return denoiser;
    }

    @Override
    public LatentDecoder decoder() {
        return decoder;
    }

    @Override
    public Optional<LatentEncoder> encoder() {
        return Optional.ofNullable(encoder);
    }

    @Override
    public Optional<GradientProbe> gradientProbe() {
        return Optional.ofNullable(gradientProbe);
    }

    /**
     * Closes the text encoder, the denoiser, the decoder and the encoder, each even when an earlier one throws.
     *
     * @throws RuntimeException the first failure, with the later ones suppressed
     */
    @Override
    public void close() {
        Closeables.closeAll(textEncoder, denoiser, decoder, encoder);
    }

    @Override
    public String toString() {
        return "DjlDiffusionBackend[" + denoiser + "]";
    }
}
