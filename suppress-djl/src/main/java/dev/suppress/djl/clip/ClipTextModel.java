package dev.suppress.djl.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import dev.suppress.djl.nn.LayerNorm;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.PartLoading;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.WeightLoader;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * transformers {@code CLIPTextModel} (modeling_clip.py) as Stable Diffusion uses it: token plus position
 * embeddings, causal-masked pre-LN encoder layers, the final layer norm; {@code last_hidden_state} is the output of
 * {@link #forward}. For SDXL, {@link #forwardWithPooled} returns one of the encoder's {@code hidden_states} (the
 * penultimate, without the final layer norm) and the pooled output: {@code last_hidden_state} at the [EOT] position,
 * times {@code text_projection} for a {@code CLIPTextModelWithProjection} ({@code text_encoder_2}).
 *
 * <p>Owns the NDManager that holds its weights; not thread-safe for {@link #close()} racing with a forward pass.
 */
final class ClipTextModel implements AutoCloseable {

    private static final String PREFIX = "text_model.";

    private final ClipTextConfig config;
    private final NDManager weights;
    private final Path weightsFile;
    private final NDArray tokenEmbedding;
    private final NDArray positionEmbedding;
    private final NDArray causalMask;
    private final List<ClipEncoderLayer> layers = new ArrayList<>();
    private final LayerNorm finalLayerNorm;
    /** {@code text_projection} of a {@code CLIPTextModelWithProjection} (no bias), or {@code null}. */
    private final Linear textProjection;

    private ClipTextModel(ClipTextConfig config, WeightLoader loader, NDManager weights) {
        this.config = config;
        this.weights = weights;
        this.weightsFile = loader.file();
        int width = config.hiddenSize();
        this.tokenEmbedding = loader.load(PREFIX + "embeddings.token_embedding.weight", config.vocabSize(), width);
        this.positionEmbedding = loader.load(PREFIX + "embeddings.position_embedding.weight",
                config.maxPositionEmbeddings(), width);
        // a non-persistent buffer (arange) in recent transformers, saved by older ones: positions are generated here
        loader.ignoreIfPresent(PREFIX + "embeddings.position_ids");
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            layers.add(new ClipEncoderLayer(loader, PREFIX + "encoder.layers." + i, config));
        }
        this.finalLayerNorm = new LayerNorm(loader, PREFIX + "final_layer_norm", width, config.layerNormEps());
        this.textProjection = config.projectionDim() > 0
                ? new Linear(loader, "text_projection", width, config.projectionDim(), false) : null;
        int positions = config.maxPositionEmbeddings();
        ai.djl.ndarray.types.Shape maskShape = new ai.djl.ndarray.types.Shape(positions, positions);
        DataType type = loader.computeType();
        if (type == DataType.FLOAT32) {
            this.causalMask = weights.create(causalMask(positions, -Float.MAX_VALUE), maskShape);
        } else {
            try (NDArray wide = weights.create(causalMask(positions, lowest(type)), maskShape)) {
                this.causalMask = wide.toType(type, true);
            }
        }
    }

    /** {@code torch.finfo(type).min} of a half type (exactly representable in it). */
    private static float lowest(DataType type) {
        // bf16: float32's exponent range with 7 stored mantissa bits, 0xFF7F; fp16: -65504
        return type == DataType.BFLOAT16 ? Float.intBitsToFloat(0xFF7F0000) : -65504f;
    }

    /**
     * transformers {@code _make_causal_mask}: {@code torch.finfo(dtype).min} above the diagonal, so that a token
     * attends only to itself and earlier tokens.
     */
    private static float[] causalMask(int length, float lowest) {
        float[] mask = new float[length * length];
        for (int row = 0; row < length; row++) {
            for (int column = row + 1; column < length; column++) {
                mask[row * length + column] = lowest;
            }
        }
        return mask;
    }

    /**
     * Loads {@code folder/config.json} and the folder's safetensors weights onto {@code device}.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration or the weights do not describe a
     *                                               supported CLIP text model
     */
    static ClipTextModel load(Path folder, ai.djl.Device device, DataType computeType) {
        return load(PartSource.folder(folder), device, computeType);
    }

    /** Loads the configuration and weights {@code source} names onto {@code device}. */
    static ClipTextModel load(PartSource source, ai.djl.Device device, DataType computeType) {
        return PartLoading.load(source, device, computeType, ClipTextConfig::read, "CLIPTextModel", List.of(),
                ClipTextModel::new);
    }

    /**
     * The key and shape of every parameter of the model that {@code folder/config.json} describes, in the order the
     * constructor asks for them.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    static Map<String, long[]> parameterShapes(Path folder) {
        return PartLoading.parameterShapes(folder, ClipTextConfig::read, ClipTextModel::new);
    }

    ClipTextConfig config() {
        return config;
    }

    Path weightsFile() {
        return weightsFile;
    }

    /** A manager for one call's intermediates, on the weights' device; the caller closes it. */
    NDManager newScope() {
        return weights.newSubManager();
    }

    /**
     * @param tokenIds {@code [seq]} int64 ids, {@code seq <= maxPositionEmbeddings}, in the scope's manager
     * @return {@code last_hidden_state} {@code [1, seq, hidden]}
     */
    NDArray forward(NDArray tokenIds) {
        return forward(tokenIds, 0);
    }

    /**
     * diffusers' {@code clip_skip} for SD 1.x/2.x: {@code final_layer_norm(hidden_states[-(skip + 1)])}, the output
     * {@code skip} layers before the last, normalised ({@code skip} 0 is {@code last_hidden_state}).
     *
     * @throws IllegalArgumentException when {@code skip} leaves no layer
     */
    NDArray forward(NDArray tokenIds, int skip) {
        // hidden_states[-(layers + 1)] is the embeddings' output: the deepest skip there is
        if (skip < 0 || skip > layers.size()) {
            throw new IllegalArgumentException("clipSkip " + skip + " leaves no layer: this text encoder has "
                    + layers.size() + " (clip skip must be at most that)");
        }
        NDManager scope = tokenIds.getManager();
        long seq = tokenIds.getShape().get(0);
        // index the weights with the scope as the result's manager, so nothing attaches to the weights
        NDArray tokens = tokenEmbedding.get(scope, new NDIndex("{}", tokenIds));
        NDArray positions = positionEmbedding.get(scope, new NDIndex("0:{}", seq));
        NDArray mask = causalMask.get(scope, new NDIndex("0:{}, 0:{}", seq, seq));
        NDArray hidden = tokens.add(positions).expandDims(0);
        for (int i = 0; i < layers.size() - skip; i++) {
            hidden = layers.get(i).forward(hidden, mask);
        }
        return finalLayerNorm.forward(hidden);
    }

    /**
     * The outputs an SDXL pipeline takes from a text encoder ({@code output_hidden_states=True}).
     *
     * @param hiddenState {@code hidden_states[index]} {@code [1, seq, hidden]}: index 0 is the embeddings, index i
     *                    the output of layer i, with no final layer norm
     * @param pooled      {@code [1, projectionDim]} ({@code text_embeds}) with a projection, else {@code [1, hidden]}
     *                    ({@code pooler_output})
     */
    record PooledOutput(NDArray hiddenState, NDArray pooled) {
    }

    /**
     * @param tokenIds         {@code [seq]} int64 ids, in the scope's manager
     * @param hiddenStateIndex which of the {@code numHiddenLayers + 1} hidden states to return (SDXL: the
     *                         penultimate, {@code numHiddenLayers - 1})
     * @param poolAt           the position of [EOT], from {@link #poolingIndex}
     */
    PooledOutput forwardWithPooled(NDArray tokenIds, int hiddenStateIndex, int poolAt) {
        if (hiddenStateIndex < 0 || hiddenStateIndex > layers.size()) {
            throw new IllegalArgumentException("Hidden state " + hiddenStateIndex + " does not exist: this text "
                    + "encoder has " + (layers.size() + 1) + " (0 = embeddings, " + layers.size() + " = last layer)");
        }
        NDManager scope = tokenIds.getManager();
        long seq = tokenIds.getShape().get(0);
        if (poolAt < 0 || poolAt >= seq) {
            throw new IllegalArgumentException("Pooling position " + poolAt + " is outside the " + seq + " tokens");
        }
        NDArray tokens = tokenEmbedding.get(scope, new NDIndex("{}", tokenIds));
        NDArray positions = positionEmbedding.get(scope, new NDIndex("0:{}", seq));
        NDArray mask = causalMask.get(scope, new NDIndex("0:{}, 0:{}", seq, seq));
        NDArray hidden = tokens.add(positions).expandDims(0);
        NDArray chosen = hiddenStateIndex == 0 ? hidden : null;
        for (int i = 0; i < layers.size(); i++) {
            hidden = layers.get(i).forward(hidden, mask);
            if (i + 1 == hiddenStateIndex) {
                chosen = hidden;
            }
        }
        NDArray last = finalLayerNorm.forward(hidden);
        NDArray pooled = last.get(new NDIndex(":, {}, :", poolAt));
        return new PooledOutput(chosen, textProjection == null ? pooled : textProjection.forward(pooled));
    }

    /**
     * Where transformers takes the pooled output: with the legacy {@code eos_token_id} 2, the first position of the
     * largest id ([EOT] is the largest id of CLIP's vocabulary, so this works whatever the padding); otherwise the
     * first position of {@code eos_token_id}, or 0 when there is none ({@code argmax} of all zeros).
     */
    static int poolingIndex(int[] tokenIds, int eosTokenId) {
        int index = 0;
        for (int i = 0; i < tokenIds.length; i++) {
            if (eosTokenId == ClipTextConfig.LEGACY_EOS_TOKEN_ID) {
                if (tokenIds[i] > tokenIds[index]) {
                    index = i;
                }
            } else if (tokenIds[i] == eosTokenId) {
                return i;
            }
        }
        return index;
    }

    /** Frees the weights. */
    @Override
    public void close() {
        weights.close();
    }

    boolean isOpen() {
        return weights.isOpen();
    }
}
