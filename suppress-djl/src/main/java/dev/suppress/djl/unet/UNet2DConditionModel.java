package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.jni.JniUtils;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.GroupNorm;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.NativeMemory;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.weights.PartLoading;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * diffusers {@code UNet2DConditionModel} (v0.21.4, unet_2d_condition.py) for the Stable Diffusion 1.x/2.x and SDXL
 * configurations: time embedding (plus SDXL's {@link AdditionEmbedding} of the pooled text embedding and the time
 * ids), {@code conv_in}, down blocks keeping skip connections, the cross-attention mid block, up blocks consuming
 * them, GroupNorm, SiLU, {@code conv_out}.
 *
 * <p>The forward pass can stop after the last attention layer an {@link AttentionRecorder} needs: a block checks
 * {@link AttentionRecorder#done()} after each attention module and returns at once, and so does this class after each
 * block. Nothing after that layer can change its maps. A full-extent probe runs on to the end instead, with autograd's
 * recording off after the block of that layer, nothing after it reaching the maps' gradient.
 *
 * <p>Owns the NDManager that holds its weights (capped after loading). Forward passes may run concurrently.
 */
final class UNet2DConditionModel implements AutoCloseable {

    private final UNet2DConditionConfig config;
    private final NDManager weights;
    private final DataType computeType;
    private final Path weightsFile;
    private final List<AttentionLayerInfo> attentionLayers;
    private final TimestepEmbedding timeEmbedding;
    /** {@code add_embedding} of {@code addition_embed_type: "text_time"}, or {@code null} (SD 1.x/2.x). */
    private final AdditionEmbedding additionEmbedding;
    private final Conv2d convIn;
    private final List<UNetDownBlock> downBlocks = new ArrayList<>();
    private final UNetMidBlock2DCrossAttn midBlock;
    private final List<UNetUpBlock> upBlocks = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;
    private final int upsamplers;

    private UNet2DConditionModel(UNet2DConditionConfig config, WeightLoader loader, NDManager weights) {
        this.config = config;
        this.weights = weights;
        this.computeType = loader.computeType();
        this.weightsFile = loader.file();
        AttentionLayerRegistry registry = new AttentionLayerRegistry();
        List<Integer> channels = config.blockOutChannels();
        int levels = config.levels();
        this.timeEmbedding = new TimestepEmbedding(loader, config);
        this.additionEmbedding = config.hasTextTimeEmbedding() ? new AdditionEmbedding(loader, config) : null;
        this.convIn = new Conv2d(loader, "conv_in", config.inChannels(), channels.get(0), config.convInKernel(), 1,
                (config.convInKernel() - 1) / 2);

        int outputChannel = channels.get(0);
        for (int level = 0; level < levels; level++) {
            int inputChannel = outputChannel;
            outputChannel = channels.get(level);
            boolean addDownsample = level < levels - 1;
            downBlocks.add(config.downBlockTypes().get(level).equals(UNet2DConditionConfig.CROSS_ATTN_DOWN)
                    ? new CrossAttnDownBlock2D(loader, registry, level, inputChannel, outputChannel, addDownsample,
                    config)
                    : new DownBlock2D(loader, level, inputChannel, outputChannel, addDownsample, config));
        }

        this.midBlock = new UNetMidBlock2DCrossAttn(loader, registry, 1 << (levels - 1), config);

        int count = 0;
        outputChannel = channels.get(levels - 1);
        for (int index = 0; index < levels; index++) {
            int reversed = levels - 1 - index;
            int prevOutputChannel = outputChannel;
            outputChannel = channels.get(reversed);
            int inputChannel = channels.get(Math.max(reversed - 1, 0));
            boolean addUpsample = index < levels - 1;
            if (addUpsample) {
                count++;
            }
            int layers = config.layersPerBlock().get(reversed) + 1;
            upBlocks.add(config.upBlockTypes().get(index).equals(UNet2DConditionConfig.CROSS_ATTN_UP)
                    ? new CrossAttnUpBlock2D(loader, registry, index, 1 << reversed, inputChannel, outputChannel,
                    prevOutputChannel, layers, config.attentionHeads().get(reversed),
                    config.transformerLayersPerBlock().get(reversed), addUpsample, config)
                    : new UpBlock2D(loader, index, inputChannel, outputChannel, prevOutputChannel, layers, addUpsample,
                    config));
        }
        this.upsamplers = count;
        this.convNormOut = new GroupNorm(loader, "conv_norm_out", config.normNumGroups(), channels.get(0),
                config.normEps());
        this.convOut = new Conv2d(loader, "conv_out", channels.get(0), config.outChannels(), config.convOutKernel(), 1,
                (config.convOutKernel() - 1) / 2);
        this.attentionLayers = registry.layers();
    }

    /**
     * Loads {@code folder/config.json} and the folder's safetensors weights onto {@code device}.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported or the weights do not
     *                                               match it
     */
    static UNet2DConditionModel load(Path folder, ai.djl.Device device, DataType computeType) {
        return load(PartSource.folder(folder), device, computeType);
    }

    /** Loads the configuration and weights {@code source} names onto {@code device}. */
    static UNet2DConditionModel load(PartSource source, ai.djl.Device device, DataType computeType) {
        return PartLoading.load(source, device, computeType, UNet2DConditionConfig::read, "UNet2DConditionModel",
                List.of(), UNet2DConditionModel::new);
    }

    /**
     * The key and shape of every parameter of the UNet that {@code folder/config.json} describes, in the order the
     * constructors ask for them.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    static Map<String, long[]> parameterShapes(Path folder) {
        return PartLoading.parameterShapes(folder, UNet2DConditionConfig::read, UNet2DConditionModel::new);
    }

    UNet2DConditionConfig config() {
        return config;
    }

    Path weightsFile() {
        return weightsFile;
    }

    /** The type the weights are held and the pass is computed in. */
    DataType computeType() {
        return computeType;
    }

    /** Every attention layer in forward order. */
    List<AttentionLayerInfo> attentionLayers() {
        return attentionLayers;
    }

    /** A manager for one call's intermediates, on the weights' device; the caller closes it. */
    NDManager newScope() {
        // the previous pass's activations are freed by now: give their pages back before this pass allocates
        NativeMemory.releaseFreed();
        return weights.newSubManager();
    }

    /** Where the weights are and the passes run. */
    ai.djl.Device device() {
        return weights.getDevice();
    }

    /** The weights' manager, for tests that check nothing was attached to it. */
    NDManager weightsManager() {
        return weights;
    }

    boolean isOpen() {
        return weights.isOpen();
    }

    /** One evaluation of a UNet without an addition embedding (SD 1.x/2.x): {@link #forward} with none. */
    NDArray forward(NDArray inputSample, int timestep, NDArray inputContext, AttentionRecorder recorder) {
        return forward(inputSample, timestep, inputContext, null, recorder);
    }

    /**
     * One evaluation.
     *
     * <p>As under autocast, the inputs are cast to the compute type here and the noise prediction back to float32;
     * the recorder widens the maps it averages to float32.
     *
     * @param inputSample  {@code [batch, inChannels, h, w]}, any float type
     * @param inputContext {@code [batch, keys, M]}, any float type (a float32 leaf of autograd receives its gradient
     *                 through the cast)
     * @param added    the pooled text embedding and time ids of a {@code text_time} UNet (SDXL), one row per batch
     *                 element; {@code null} for a UNet without an addition embedding
     * @param recorder the attention capture of this call
     * @return the noise prediction {@code [batch, outChannels, h, w]} in float32, or {@code null} when the recorder
     *         stopped the pass early
     * @throws IllegalArgumentException when {@code added} is missing for a {@code text_time} UNet, given to one
     *                                  without, or does not fit it
     */
    NDArray forward(NDArray inputSample, int timestep, NDArray inputContext, TextTimeConditioning added,
                    AttentionRecorder recorder) {
        checkAdded(added, inputSample.getShape().get(0));
        boolean gradMode = JniUtils.isGradMode();
        try {
            return run(inputSample, timestep, inputContext, added, recorder);
        } finally {
            // libtorch's grad mode is per thread: give the caller back the mode it had
            JniUtils.setGradMode(gradMode);
        }
    }

    /**
     * The blocks of {@link #forward}. After each block, once the recorder has every layer it needs, the pass either
     * returns ({@link AttentionRecorder#done()}) or, for a full-extent probe, runs the later blocks with autograd's
     * recording off ({@link AttentionRecorder#gradientNoLongerNeeded()}): they cannot reach the maps' gradient, and
     * with it on they would save their activations (the 64x64 attention probabilities among them) until the
     * backward pass. The rest of the block holding that last layer still records (at SD 1.x's 16x16 level, a few MB).
     */
    private NDArray run(NDArray inputSample, int timestep, NDArray inputContext, TextTimeConditioning added,
                        AttentionRecorder recorder) {
        NDManager scope = inputSample.getManager();
        NDArray sample = ComputePrecision.cast(inputSample, computeType);
        NDArray context = ComputePrecision.cast(inputContext, computeType);
        NDArray x = config.centerInputSample()
                ? sample.mul(Tensors.scalar(scope, 2)).sub(Tensors.scalar(scope, 1)) : sample;
        NDArray temb = embedding(scope, timestep, added);
        x = convIn.forward(x);
        List<NDArray> residuals = new ArrayList<>();
        residuals.add(x);
        for (UNetDownBlock block : downBlocks) {
            x = block.forward(x, temb, context, recorder, residuals);
            if (stopsOrCutsGradient(recorder)) {
                return null;
            }
        }
        // blocks free their inner activations when they return; down blocks keep theirs as skip connections
        x = Intermediates.freedAfter(x, input -> midBlock.forward(input, temb, context, recorder));
        if (stopsOrCutsGradient(recorder)) {
            return null;
        }
        boolean forwardUpsampleSize = !isMultipleOfDownsampling(sample.getShape());
        for (int index = 0; index < upBlocks.size(); index++) {
            UNetUpBlock block = upBlocks.get(index);
            long[] upsampleSize = forwardUpsampleSize && index < upBlocks.size() - 1
                    ? skipSize(residuals, block.resnetCount()) : null;
            x = Intermediates.freedAfter(x,
                    input -> block.forward(input, residuals, temb, context, recorder, upsampleSize));
            if (stopsOrCutsGradient(recorder)) {
                return null;
            }
        }
        return ComputePrecision.toFloat32(convOut.forward(Activations.silu(convNormOut.forward(x))));
    }

    /**
     * True when the pass stops here; turns autograd's recording off (restored by {@link #forward}) when the rest of
     * the pass no longer needs it.
     */
    private static boolean stopsOrCutsGradient(AttentionRecorder recorder) {
        if (recorder.done()) {
            return true;
        }
        if (recorder.gradientNoLongerNeeded()) {
            JniUtils.setGradMode(false);
        }
        return false;
    }

    /**
     * diffusers' {@code emb}: the time embedding, plus {@code aug_emb} of the addition embedding when there is one.
     *
     * @return {@code [1, timeEmbedDim]} without an addition embedding, else {@code [batch, timeEmbedDim]}, in the
     *         compute type, in {@code scope}
     */
    NDArray embedding(NDManager scope, int timestep, TextTimeConditioning added) {
        NDArray timeOnly = timeEmbedding.forward(scope, timestep, computeType);
        // emb = emb + aug_emb: [1, D] + [batch, D]
        return additionEmbedding == null ? timeOnly
                : timeOnly.add(additionEmbedding.forward(scope, added, computeType));
    }

    /** The width of {@code add_embedding}'s input, or 0 for a UNet without an addition embedding. */
    int additionEmbeddingInputDim() {
        return additionEmbedding == null ? 0 : additionEmbedding.inputDim();
    }

    /** {@code addition_time_embed_dim}, or 0 for a UNet without an addition embedding. */
    int additionTimeEmbedDim() {
        return additionEmbedding == null ? 0 : additionEmbedding.timeIdChannels();
    }

    /** Checks that {@code added} is there exactly when the configuration needs it, for {@code batch} samples. */
    void checkAdded(TextTimeConditioning added, long batch) {
        if (additionEmbedding == null) {
            if (added != null) {
                throw new IllegalArgumentException("This UNet (" + weightsFile + ") has no addition_embed_type: it "
                        + "takes no text embeds or time ids");
            }
            return;
        }
        if (added == null) {
            throw new IllegalArgumentException("This UNet (" + weightsFile + ") has addition_embed_type \"text_time\" "
                    + "(SDXL): it needs the pooled text embeds and the time ids (TextTimeConditioning)");
        }
        if (added.batch() != batch) {
            throw new IllegalArgumentException("TextTimeConditioning has " + added.batch() + " rows for a batch of "
                    + batch + " latents");
        }
        // the widths are checked where they are used, AdditionEmbedding.addEmbeds
    }

    /** diffusers' {@code forward_upsample_size} test: both sides are multiples of {@code 2^upsamplers}. */
    private boolean isMultipleOfDownsampling(Shape sample) {
        long overall = 1L << upsamplers;
        return sample.get(2) % overall == 0 && sample.get(3) % overall == 0;
    }

    /** The side of the skip connection that the next up block will meet, after this one takes its own. */
    private static long[] skipSize(List<NDArray> residuals, int taken) {
        Shape next = residuals.get(residuals.size() - 1 - taken).getShape();
        return new long[] {next.get(2), next.get(3)};
    }

    /** Frees the weights. */
    @Override
    public void close() {
        weights.close();
    }
}
