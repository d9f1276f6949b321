package dev.suppress.onnx;

import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.Closeables;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.TextEncoder;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Stable Diffusion from a diffusers/optimum ONNX export on ONNX Runtime: {@code text_encoder/}, {@code unet/},
 * {@code vae_decoder/} and optionally {@code vae_encoder/}, each a {@code model.onnx} (see
 * {@link #open(BackendOptions)}). There is no autograd here: {@link #gradientProbe()} is empty and core uses finite
 * differences over the denoiser's attention-only passes.
 *
 * <p>Closing the backend closes every part, even when one of them fails to close; the first failure is thrown
 * with the others suppressed.
 */
public final class OrtDiffusionBackend implements DiffusionBackend {

    /** The name under which {@link OnnxBackendProvider} registers this backend. */
    public static final String NAME = "onnx";

    private final TextEncoder textEncoder;
    private final DenoiserWithAttention denoiser;
    private final LatentDecoder decoder;
    private final LatentEncoder encoder;
    private final Device device;

    /** Takes ownership of the parts; {@code encoder} may be {@code null}. */
    OrtDiffusionBackend(TextEncoder textEncoder, DenoiserWithAttention denoiser, LatentDecoder decoder,
                        LatentEncoder encoder, Device device) {
        this.textEncoder = Objects.requireNonNull(textEncoder, "textEncoder");
        this.denoiser = Objects.requireNonNull(denoiser, "denoiser");
        this.decoder = Objects.requireNonNull(decoder, "decoder");
        this.encoder = encoder;
        this.device = Objects.requireNonNull(device, "device");
    }

    /**
     * Opens every part of an ONNX model folder. The UNet graph is scanned for its attention Softmax nodes here, so
     * an export without them (e.g. one fused by ONNX Runtime's transformer optimizer) fails now, not at the first
     * capture. When a part fails to open, the parts already open are closed.
     *
     * @param options the model folder, the device, and whether a GPU request may fall back to the CPU
     * @throws dev.suppress.core.io.ModelFormatException when the folder is not a usable ONNX Stable Diffusion model
     * @throws OrtExecutionException                  when a GPU was asked for, the CUDA execution provider cannot
     *                                                be used, and the CPU fallback is off
     */
    public static OrtDiffusionBackend open(BackendOptions options) {
        OrtModelFolder folder = OrtModelFolder.of(options.modelFolder());
        Device device = options.device();
        boolean fallback = options.allowCpuFallback();
        List<AutoCloseable> opened = new ArrayList<>();
        try {
            OrtTextEncoder textEncoder = new OrtTextEncoder(OrtModelSession.open(OrtTextEncoder.COMPONENT,
                    folder.model(OrtTextEncoder.COMPONENT), device, fallback));
            opened.add(textEncoder);
            // After one fallback the CUDA provider is known to be unusable: open the rest on the CPU directly.
            device = textEncoder.device();
            OrtDenoiser denoiser = OrtDenoiser.open(folder, device, fallback, AttentionAggregation.core());
            opened.add(denoiser);
            OrtLatentDecoder decoder = new OrtLatentDecoder(OrtModelSession.open(OrtLatentDecoder.COMPONENT,
                    folder.model(OrtLatentDecoder.COMPONENT), device, fallback), folder.vaeScalingFactor());
            opened.add(decoder);
            OrtLatentEncoder encoder = null;
            if (folder.has(OrtLatentEncoder.COMPONENT)) {
                encoder = OrtLatentEncoder.open(folder, device, fallback);
                opened.add(encoder);
            }
            return new OrtDiffusionBackend(textEncoder, denoiser, decoder, encoder, denoiser.device());
        } catch (RuntimeException e) {
            throw Closeables.closeAfterFailure(e, opened);
        }
    }

    @Override
    public String name() {
        return NAME;
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

    /** Always empty: ONNX Runtime has no autograd, so core differentiates by finite differences. */
    @Override
    public Optional<GradientProbe> gradientProbe() {
        return Optional.empty();
    }

    /** Where the UNet actually runs: the requested device, or the CPU after a fallback. */
    public Device device() {
        return device;
    }

    /** Closes every part, even when one fails; the first failure is thrown with the others suppressed. */
    @Override
    public void close() {
        Closeables.closeAll(textEncoder, denoiser, decoder, encoder);
    }
}
