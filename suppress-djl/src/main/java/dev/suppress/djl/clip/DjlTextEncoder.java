package dev.suppress.djl.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.nn.Tensors;
import dev.suppress.djl.weights.PartSource;

import java.nio.file.Path;
import java.util.Map;

/**
 * The CLIP text encoder of a diffusers folder ({@code text_encoder/}) on DJL: token ids to
 * {@code last_hidden_state}.
 *
 * <p>Each call runs in its own NDManager, closed before it returns. Safe for concurrent {@link #encode} calls.
 */
public final class DjlTextEncoder implements TextEncoder {

    private final ClipTextModel model;

    private DjlTextEncoder(ClipTextModel model) {
        this.model = model;
    }

    /**
     * Loads {@code textEncoderFolder/config.json} and its safetensors weights ({@code model.safetensors} or a
     * standard alternative, see {@link dev.suppress.djl.weights.WeightFiles}).
     *
     * @param device where to compute, from {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported CLIP text model
     */
    public static DjlTextEncoder open(Path textEncoderFolder, ai.djl.Device device) {
        return open(textEncoderFolder, device, DataType.FLOAT32);
    }

    /**
     * Loads the text encoder with its weights held and computed in {@code computeType} (the {@code .fp16} variant
     * file first for a half type); the embedding returned is float32.
     *
     * @param computeType float32 or float16 (see {@link dev.suppress.djl.nn.ComputePrecision})
     * @throws dev.suppress.core.io.ModelFormatException when the folder does not hold a supported CLIP text model
     */
    public static DjlTextEncoder open(Path textEncoderFolder, ai.djl.Device device, DataType computeType) {
        return open(PartSource.folder(textEncoderFolder), device, computeType);
    }

    /**
     * Loads the text encoder that {@code source} configures and holds (a diffusers folder, or a single-file
     * checkpoint's view), with its weights held and computed in {@code computeType}.
     *
     * @throws dev.suppress.core.io.ModelFormatException when the source does not hold a supported CLIP text model
     */
    public static DjlTextEncoder open(PartSource source, ai.djl.Device device, DataType computeType) {
        return new DjlTextEncoder(ClipTextModel.load(source, device, computeType));
    }

    /**
     * The key and shape of every parameter of the CLIP text model that {@code textEncoderFolder/config.json}
     * describes, in loading order; no weights are read.
     *
     * @return a new unmodifiable map of new arrays
     * @throws dev.suppress.core.io.ModelFormatException when the configuration is unsupported
     */
    public static Map<String, long[]> parameterShapes(Path textEncoderFolder) {
        return ClipTextModel.parameterShapes(textEncoderFolder);
    }

    /**
     * @param tokenIds {@link #maxLength()} ids in {@code [0, vocab)}; not modified
     * @return {@code [maxLength, hiddenSize]}
     * @throws IllegalArgumentException when the length or an id is out of range
     * @throws IllegalStateException    after {@link #close()}
     */
    @Override
    public Tensor encode(int[] tokenIds) {
        return encode(tokenIds, 0);
    }

    /**
     * {@code clip_skip} as diffusers' Stable Diffusion pipeline applies it: the final layer norm of the output
     * {@code clipSkip} layers before the last (A1111's "Clip skip: 2" is {@code clipSkip} 1).
     *
     * @throws IllegalArgumentException when {@code clipSkip} is negative or leaves no layer
     */
    @Override
    public Tensor encode(int[] tokenIds, int clipSkip) {
        long[] ids = checkedIds(tokenIds);
        int length = ids.length;
        ensureOpen();
        try (NDManager scope = model.newScope()) {
            NDArray hidden = model.forward(scope.create(ids), clipSkip);
            return Tensors.toTensor(hidden.reshape(length, hiddenSize()));
        }
    }

    /**
     * The encoding an SDXL pipeline uses ({@code output_hidden_states=True}): {@code hidden_states[-fromEnd]}
     * (SDXL: {@code fromEnd = 2}, the penultimate layer's output, no final layer norm; {@code clip_skip} adds to it)
     * and the pooled output at the [EOT] position that {@code eos_token_id} selects (see {@link #pooledSize()}).
     *
     * @param tokenIds {@link #maxLength()} ids in {@code [0, vocab)}; not modified
     * @param fromEnd  1 for the last layer's output, 2 for the penultimate, up to {@code num_hidden_layers + 1}
     *                 (the embeddings)
     * @throws IllegalArgumentException when the length, an id or {@code fromEnd} is out of range
     * @throws IllegalStateException    after {@link #close()}
     */
    public PooledTextEncoding encodeWithPooled(int[] tokenIds, int fromEnd) {
        int layers = model.config().numHiddenLayers();
        if (fromEnd < 1 || fromEnd > layers + 1) {
            throw new IllegalArgumentException("hidden_states[-" + fromEnd + "] does not exist: this text encoder has "
                    + (layers + 1) + " hidden states");
        }
        long[] ids = checkedIds(tokenIds);
        int poolAt = ClipTextModel.poolingIndex(tokenIds, model.config().eosTokenId());
        ensureOpen();
        try (NDManager scope = model.newScope()) {
            ClipTextModel.PooledOutput output = model.forwardWithPooled(scope.create(ids), layers + 1 - fromEnd,
                    poolAt);
            return new PooledTextEncoding(Tensors.toTensor(output.hiddenState().reshape(ids.length, hiddenSize())),
                    Tensors.toTensor(output.pooled().reshape(pooledSize())), poolAt);
        }
    }

    /**
     * The width of the pooled output: {@code projection_dim} for a {@code CLIPTextModelWithProjection}
     * (SDXL's {@code text_encoder_2}), else {@code hidden_size}.
     */
    public int pooledSize() {
        int projection = model.config().projectionDim();
        return projection > 0 ? projection : hiddenSize();
    }

    /** The number of transformer layers, {@code num_hidden_layers}. */
    public int layers() {
        return model.config().numHiddenLayers();
    }

    @Override
    public int hiddenSize() {
        return model.config().hiddenSize();
    }

    /** The number of positions, {@code max_position_embeddings} (77). */
    @Override
    public int maxLength() {
        return model.config().maxPositionEmbeddings();
    }

    /** The weights file that was loaded. */
    public Path weightsFile() {
        return model.weightsFile();
    }

    /** The ids widened for the embedding lookup, after checking their count and range. */
    private long[] checkedIds(int[] tokenIds) {
        int length = maxLength();
        if (tokenIds.length != length) {
            throw new IllegalArgumentException("Expected " + length + " token ids (padded), got " + tokenIds.length);
        }
        long[] ids = new long[length];
        int vocab = model.config().vocabSize();
        for (int i = 0; i < length; i++) {
            if (tokenIds[i] < 0 || tokenIds[i] >= vocab) {
                throw new IllegalArgumentException("Token id " + tokenIds[i] + " at position " + i
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
            ids[i] = tokenIds[i];
        }
        return ids;
    }

    private void ensureOpen() {
        if (!model.isOpen()) {
            throw new IllegalStateException("DjlTextEncoder is closed");
        }
    }

    @Override
    public void close() {
        model.close();
    }

    @Override
    public String toString() {
        return "DjlTextEncoder[" + model.weightsFile() + "]";
    }
}
