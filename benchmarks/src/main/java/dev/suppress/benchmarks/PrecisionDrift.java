package dev.suppress.benchmarks;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.Closeables;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.unet.DjlGradientProbe;
import dev.suppress.djl.vae.DjlLatentDecoder;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * How far a half-precision DJL model moves from float32 on the fixture model: one UNet noise prediction (max abs,
 * relative L2), and the final latents of both branches and the decoded images after a full reference-mode run
 * from the golden initial latent. The parts are opened in the compute type directly, so this runs float16 on a CPU
 * (slowly: libtorch's CPU half kernels) where the backend itself refuses it.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.suppress.benchmarks.PrecisionDrift [fp16]</pre>
 */
public final class PrecisionDrift {

    private PrecisionDrift() {
    }

    public static void main(String[] args) {
        Precision precision = args.length > 0 ? Precision.parse(args[0]) : Precision.FP16;
        DataType type = precision == Precision.FP16 ? DataType.FLOAT16 : DataType.FLOAT32;
        Path model = Fixtures.tinyModel();
        try (SafetensorsFile golden = SafetensorsFile.open(Fixtures.path("components/unet.safetensors"));
             DjlDenoiser exact = DjlDenoiser.open(model.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON);
             DjlDenoiser half = DjlDenoiser.open(model.resolve("unet"), Device.cpu(),
                     UNetDescription.PredictionType.EPSILON, type)) {
            Tensor latent = golden.tensor("latent");
            Tensor context = golden.tensor("encoder_hidden_states");
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            for (int timestep : new int[] {981, 501}) {
                var a = exact.denoise(latent, timestep, context, capture);
                var b = half.denoise(latent, timestep, context, capture);
                report("unet noise prediction t=" + timestep, a.noisePrediction(), b.noisePrediction());
                report("unet cross maps 16x16 t=" + timestep, a.attention().cross(), b.attention().cross());
            }
        }
        try (SafetensorsFile golden = SafetensorsFile.open(Fixtures.path("e2e/gen_ito.safetensors"));
             Suppressor fp32 = Suppressor.builder().backend("djl").modelFolder(model).build();
             Suppressor reduced = Suppressor.builder().backend(provider(type)).modelFolder(model).build()) {
            for (Mode mode : Mode.values()) {
                SuppressionRequest request = SuppressionRequest.builder("a man without glasses").suppress("glasses")
                        .initialLatent(golden.tensor("initial_latent")).mode(mode).build();
                SuppressionResult a = fp32.generate(request);
                SuppressionResult b = reduced.generate(request);
                String label = mode.name().toLowerCase(Locale.ROOT);
                report(label + " final latent, original branch", a.originalLatent(), b.originalLatent());
                report(label + " final latent, suppressed branch", a.suppressedLatent(), b.suppressedLatent());
                report(label + " original image [-1,1]", a.originalImage(), b.originalImage());
                report(label + " suppressed image [-1,1]", a.suppressedImage(), b.suppressedImage());
            }
        }
    }

    private static void report(String what, Tensor expected, Tensor actual) {
        float[] e = expected.toArray();
        float[] a = actual.toArray();
        double difference = 0;
        double norm = 0;
        double max = 0;
        for (int i = 0; i < e.length; i++) {
            double delta = (double) a[i] - e[i];
            difference += delta * delta;
            norm += (double) e[i] * e[i];
            max = Math.max(max, Math.abs(delta));
        }
        System.out.printf(Locale.ROOT, "| %s | %.3g | %.3g |%n", what, max, Math.sqrt(difference / norm));
    }

    /** The fixture's parts in {@code type} (the VAE in float32, as the backend does for fp16). */
    private static BackendProvider provider(DataType type) {
        return new BackendProvider() {
            @Override
            public String name() {
                return "djl-" + type;
            }

            @Override
            public DiffusionBackend open(BackendOptions options) {
                Path folder = options.modelFolder();
                DjlTextEncoder text = DjlTextEncoder.open(folder.resolve("text_encoder"), Device.cpu(), type);
                DjlDenoiser unet = DjlDenoiser.open(folder.resolve("unet"), Device.cpu(),
                        UNetDescription.PredictionType.EPSILON, type);
                DjlLatentDecoder vae = DjlLatentDecoder.open(folder.resolve("vae"), Device.cpu());
                DjlGradientProbe probe = new DjlGradientProbe(unet);
                return new DiffusionBackend() {
                    @Override
                    public String name() {
                        return "djl";
                    }

                    @Override
                    public TextEncoder textEncoder() {
                        return text;
                    }

                    @Override
                    public DenoiserWithAttention denoiser() {
                        return unet;
                    }

                    @Override
                    public LatentDecoder decoder() {
                        return vae;
                    }

                    @Override
                    public Optional<LatentEncoder> encoder() {
                        return Optional.empty();
                    }

                    @Override
                    public Optional<GradientProbe> gradientProbe() {
                        return Optional.of(probe);
                    }

                    @Override
                    public void close() {
                        Closeables.closeAll(text, unet, vae);
                    }
                };
            }
        };
    }
}
