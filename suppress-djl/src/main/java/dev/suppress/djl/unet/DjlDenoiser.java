package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.Arithmetic;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.unet.AttentionRecorder.AfterLastNeeded;
import dev.suppress.djl.weights.PartSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The UNet of a diffusers folder ({@code unet/}) on DJL, with attention capture.
 *
 * <p>Each call runs in its own NDManager, closed before it returns; results are copied into core tensors. The
 * conditional and unconditional halves of a guided step go through as one batch. Safe for concurrent calls.
 */
public final class DjlDenoiser implements DenoiserWithAttention {

    /** The VAE's downsampling factor, the image side over the latent side (SDXL's time ids are image sizes). */
    static final int VAE_DOWNSAMPLING = 8;

    /** Multiply-adds of one full single-sample pass, by latent size. */
    private final Map<LatentSize, Long> fullPassArithmetic = new ConcurrentHashMap<>();
    /** Multiply-adds of one single-sample attention-only pass, by capture and latent size. */
    private final Map<CaptureAt, Long> attentionPassArithmetic = new ConcurrentHashMap<>();

    private final UNet2DConditionModel model;
    private final UNetDescription description;
    /** Full UNet passes run ({@link #denoise} calls, or more when a batch is split). */
    private final AtomicLong fullPasses = new AtomicLong();

    private DjlDenoiser(UNet2DConditionModel model, UNetDescription.PredictionType predictionType) {
        this.model = model;
        UNet2DConditionConfig config = model.config();
        this.description = new UNetDescription(config.inChannels(), config.sampleSize(), config.crossAttentionDim(),
                predictionType, model.attentionLayers());
    }

    /**
     * Loads {@code unetFolder/config.json} and its safetensors weights
     * ({@code diffusion_pytorch_model.safetensors} or a standard alternative, see
     * {@link dev.suppress.djl.weights.WeightFiles}).
     *
     * @param device         where to compute, from {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}
     * @param predictionType the scheduler's {@code prediction_type}, reported by {@link #description()}
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported UNet
     */
    public static DjlDenoiser open(Path unetFolder, ai.djl.Device device,
                                   UNetDescription.PredictionType predictionType) {
        return open(unetFolder, device, predictionType, DataType.FLOAT32);
    }

    /**
     * Loads the UNet with its weights held and its passes computed in {@code computeType} (the {@code .fp16}
     * variant file is read when the type is a half type and the folder has one); inputs and outputs stay float32.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported UNet
     */
    public static DjlDenoiser open(Path unetFolder, ai.djl.Device device,
                                   UNetDescription.PredictionType predictionType, DataType computeType) {
        return open(PartSource.folder(unetFolder), device, predictionType, computeType);
    }

    /**
     * Loads the UNet that {@code source} configures and holds (a diffusers folder, or a single-file checkpoint's
     * view), with its weights held and its passes computed in {@code computeType}.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the source does not hold a supported UNet
     */
    public static DjlDenoiser open(PartSource source, ai.djl.Device device,
                                   UNetDescription.PredictionType predictionType, DataType computeType) {
        return new DjlDenoiser(UNet2DConditionModel.load(source, device, computeType), predictionType);
    }

    /** The type the weights are held and the passes are computed in. */
    public DataType computeType() {
        return model.computeType();
    }

    /**
     * The key and shape of every parameter of the UNet that {@code unetFolder/config.json} describes, in loading
     * order; no weights are read.
     *
     * @return a new unmodifiable map of new arrays
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    public static Map<String, long[]> parameterShapes(Path unetFolder) {
        return UNet2DConditionModel.parameterShapes(unetFolder);
    }

    /** The UNet's facts; its attention layers are listed in forward order. */
    @Override
    public UNetDescription description() {
        return description;
    }

    /** The weights file that was loaded. */
    public Path weightsFile() {
        return model.weightsFile();
    }

    /**
     * @param latents  {@code [batch, inChannels, h, w]}, any h and w the UNet's levels divide; not modified. The
     *                 maps come back {@code [batch, h_l, w_l, ...]} at the capture's level.
     * @param contexts {@code [batch, keys, M]}; not modified
     * @param capture  the attention to return, or {@code null}
     * @throws IllegalArgumentException when the shapes do not fit the UNet or the capture does not fit it, and for
     *                                  an SDXL ({@code text_time}) UNet, which needs
     *                                  {@link #denoise(Tensor, int, Tensor, TextTimeConditioning, AttentionCapture)}
     * @throws IllegalStateException    after {@link #close()}
     */
    @Override
    public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
        return denoise(latents, timestep, contexts, (TextTimeConditioning) null, capture);
    }

    /**
     * For an SDXL ({@code text_time}) UNet: the pooled embeddings, with the time ids SDXL's pipeline gives by
     * default (original and target size the image size {@code (height, width)}, {@code latents}' sides times the
     * VAE's 8, as diffusers' {@code _get_add_time_ids}; crop at 0, 0).
     *
     * @param pooled {@code [batch, P]}, or {@code null} for a UNet without an addition embedding
     */
    @Override
    public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                  AttentionCapture capture) {
        return denoise(latents, timestep, contexts, textTime(latents, pooled), capture);
    }

    /** The pooled embeddings with SDXL's default time ids for the image size, or {@code null} without pooled. */
    static TextTimeConditioning textTime(Tensor latents, Tensor pooled) {
        if (pooled == null) {
            return null;
        }
        int height = latents.dim(2) * VAE_DOWNSAMPLING;
        int width = latents.dim(3) * VAE_DOWNSAMPLING;
        return new TextTimeConditioning(pooled, TextTimeConditioning.sdxlTimeIds(latents.dim(0), height, width, 0, 0,
                height, width));
    }

    /**
     * {@link #denoise(Tensor, int, Tensor, AttentionCapture)} with the extra conditioning of a UNet with
     * {@code addition_embed_type: "text_time"} (SDXL).
     *
     * <p>On a CPU a batch whose activations would not fit in the free memory runs in equal smaller passes
     * ({@link UNetBatchSplit}); a call with a capture is never split.
     *
     * @param added the pooled text embeds and time ids, one row per latent; {@code null} for a UNet without an
     *              addition embedding (SD 1.x/2.x)
     * @throws IllegalArgumentException as the other overload, and when {@code added} is missing for a
     *                                  {@code text_time} UNet, given to one without, or does not fit it
     */
    public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, TextTimeConditioning added,
                                  AttentionCapture capture) {
        checkInputs(latents, contexts, capture);
        model.checkAdded(added, latents.dim(0));
        ensureOpen();
        int batch = latents.dim(0);
        // on a CPU without room for the batch's activations, equal smaller passes (UNetBatchSplit); the maps of a
        // capture are one pass's, so a pass with a capture is never split
        int perPass = capture != null || !model.device().getDeviceType().equals(ai.djl.Device.Type.CPU) ? batch
                : UNetBatchSplit.samplesPerPass(batch, UNetBatchSplit.bytesPerSample(
                        model.config().blockOutChannels().get(0), latents.dim(2), latents.dim(3)),
                        UNetBatchSplit.availableBytes());
        if (perPass < batch) {
            Tensor[] noises = new Tensor[(batch + perPass - 1) / perPass];
            for (int pass = 0; pass < noises.length; pass++) {
                int from = pass * perPass;
                int to = Math.min(batch, from + perPass);
                TextTimeConditioning rows = added == null ? null
                        : new TextTimeConditioning(rows(added.textEmbeds(), from, to), rows(added.timeIds(), from, to));
                noises[pass] = denoisePass(rows(latents, from, to), timestep, rows(contexts, from, to), rows, null)
                        .noisePrediction();
            }
            return new DenoiserOutput(Tensor.concat(noises), null);
        }
        return denoisePass(latents, timestep, contexts, added, capture);
    }

    /** Full UNet passes run so far (a split batch counts each of its passes). */
    long fullPasses() {
        return fullPasses.get();
    }

    /** Rows {@code from} (included) to {@code to} (excluded) of the first dimension. */
    private static Tensor rows(Tensor tensor, int from, int to) {
        if (from == 0 && to == tensor.dim(0)) {
            return tensor;
        }
        Tensor[] parts = new Tensor[to - from];
        for (int i = from; i < to; i++) {
            parts[i - from] = tensor.batchElement(i);
        }
        return Tensor.concat(parts);
    }

    /** One UNet pass over the whole of the given batch. */
    private DenoiserOutput denoisePass(Tensor latents, int timestep, Tensor contexts, TextTimeConditioning added,
                                       AttentionCapture capture) {
        fullPasses.incrementAndGet();
        try (NDManager scope = model.newScope()) {
            AttentionRecorder recorder = recorder(capture, latents, AfterLastNeeded.CONTINUE, scope);
            Arithmetic.Counted<NDArray> noise = Arithmetic.count(() -> model.forward(Tensors.toNDArray(scope,
                    latents), timestep, Tensors.toNDArray(scope, contexts), added, recorder));
            fullPassArithmetic.putIfAbsent(LatentSize.of(latents), noise.multiplyAdds() / latents.dim(0));
            AttentionMaps maps = capture == null ? null : recorder.toMaps(recorder.crossMaps(), recorder.selfMaps());
            return new DenoiserOutput(Tensors.toTensor(noise.value()), maps);
        }
    }

    /**
     * The captured maps only: the UNet stops after the last layer the capture needs (ITO never uses the noise
     * prediction).
     *
     * @throws IllegalArgumentException as {@link #denoise}, and when {@code capture} is {@code null}
     */
    @Override
    public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
        return attention(latents, timestep, contexts, (TextTimeConditioning) null, capture);
    }

    /** {@link #attention(Tensor, int, Tensor, AttentionCapture)} with pooled embeddings, as {@link #denoise}. */
    @Override
    public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, Tensor pooled,
                                   AttentionCapture capture) {
        return attention(latents, timestep, contexts, textTime(latents, pooled), capture);
    }

    /**
     * {@link #attention(Tensor, int, Tensor, AttentionCapture)} with the extra conditioning of a {@code text_time}
     * UNet (SDXL); {@code added} as in {@link #denoise(Tensor, int, Tensor, TextTimeConditioning, AttentionCapture)}.
     */
    public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, TextTimeConditioning added,
                                   AttentionCapture capture) {
        if (capture == null) {
            throw new IllegalArgumentException("attention() needs an AttentionCapture");
        }
        checkInputs(latents, contexts, capture);
        model.checkAdded(added, latents.dim(0));
        ensureOpen();
        try (NDManager scope = model.newScope()) {
            AttentionRecorder recorder = recorder(capture, latents, AfterLastNeeded.STOP, scope);
            long multiplyAdds = Arithmetic.count(() -> model.forward(Tensors.toNDArray(scope, latents), timestep,
                    Tensors.toNDArray(scope, contexts), added, recorder)).multiplyAdds();
            attentionPassArithmetic.putIfAbsent(new CaptureAt(capture, LatentSize.of(latents)),
                    multiplyAdds / latents.dim(0));
            return recorder.toMaps(recorder.crossMaps(), recorder.selfMaps());
        }
    }

    /** A latent's height and width. */
    private record LatentSize(int height, int width) {
        static LatentSize of(Tensor latents) {
            return new LatentSize(latents.dim(2), latents.dim(3));
        }
    }

    /** A capture on latents of one size. */
    private record CaptureAt(AttentionCapture capture, LatentSize latent) {
    }

    /**
     * The multiply-adds of an attention-only pass over those of a full pass, single sample: counted (convolutions,
     * linear layers, attention products) in the first passes of each kind, or in one counting pass of a zero latent
     * when no such pass has run yet.
     */
    @Override
    public double attentionPassFraction(AttentionCapture capture, int latentSide) {
        return attentionPassFraction(capture, latentSide, latentSide);
    }

    /** {@link #attentionPassFraction(AttentionCapture, int)} for a latent {@code latentHeight x latentWidth}. */
    @Override
    public double attentionPassFraction(AttentionCapture capture, int latentHeight, int latentWidth) {
        LatentSize size = new LatentSize(latentHeight, latentWidth);
        CaptureAt key = new CaptureAt(capture, size);
        Long full = fullPassArithmetic.get(size);
        Long cut = attentionPassArithmetic.get(key);
        if (full == null || cut == null) {
            // called once per counted pass: build the counting inputs only when a count is missing
            Tensor latent = Tensor.zeros(1, model.config().inChannels(), latentHeight, latentWidth);
            Tensor context = Tensor.zeros(1, 77, model.config().crossAttentionDim());
            TextTimeConditioning added = countingConditioning();
            if (full == null) {
                denoise(latent, 0, context, added, null);
                full = fullPassArithmetic.get(size);
            }
            if (cut == null) {
                attention(latent, 0, context, added, capture);
                cut = attentionPassArithmetic.get(key);
            }
        }
        return full == 0 ? 1.0 : Math.min(1.0, (double) cut / full);
    }

    /**
     * Zeros for a counting pass of a {@code text_time} UNet (one time id; how the width is split between text embeds
     * and time ids does not change the count), or {@code null} for a UNet without an addition embedding.
     */
    private TextTimeConditioning countingConditioning() {
        int inputDim = model.additionEmbeddingInputDim();
        if (inputDim == 0) {
            return null;
        }
        return new TextTimeConditioning(Tensor.zeros(1, inputDim - model.additionTimeEmbedDim()), Tensor.zeros(1, 1));
    }

    AttentionRecorder recorder(AttentionCapture capture, Tensor latents, AfterLastNeeded afterLastNeeded,
                               NDManager scope) {
        return capture == null ? AttentionRecorder.none(model.attentionLayers())
                : AttentionRecorder.of(capture, model.attentionLayers(), latents.dim(2), latents.dim(3),
                latents.dim(0), afterLastNeeded, scope);
    }

    void checkInputs(Tensor latents, Tensor contexts, AttentionCapture capture) {
        UNet2DConditionConfig config = model.config();
        if (latents.rank() != 4 || latents.dim(1) != config.inChannels() || latents.dim(0) < 1) {
            throw new IllegalArgumentException("Expected latents [batch, " + config.inChannels() + ", h, w], got "
                    + Arrays.toString(latents.shape()));
        }
        if (contexts.rank() != 3 || contexts.dim(0) != latents.dim(0) || contexts.dim(2) != config.crossAttentionDim()
                || contexts.dim(1) < 1) {
            throw new IllegalArgumentException("Expected contexts [" + latents.dim(0) + ", keys, "
                    + config.crossAttentionDim() + "] for latents " + Arrays.toString(latents.shape()) + ", got "
                    + Arrays.toString(contexts.shape()));
        }
    }

    void ensureOpen() {
        if (!model.isOpen()) {
            throw new IllegalStateException("DjlDenoiser is closed");
        }
    }

    UNet2DConditionModel model() {
        return model;
    }

    @Override
    public void close() {
        model.close();
    }

    @Override
    public String toString() {
        return "DjlDenoiser[" + model.weightsFile() + "]";
    }
}
