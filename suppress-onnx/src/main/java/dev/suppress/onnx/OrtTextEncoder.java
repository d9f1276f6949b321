package dev.suppress.onnx;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.tensor.Tensor;

import java.util.Map;
import java.util.Set;

/**
 * The CLIP text encoder ({@code CLIPTextModel}) from {@code text_encoder/model.onnx}: one input of token ids
 * ({@code input_ids}, int32 in the diffusers export, int64 in optimum's, read from the model) and
 * {@code last_hidden_state [batch, 77, M]} among its outputs.
 */
final class OrtTextEncoder implements TextEncoder {

    static final String COMPONENT = "text_encoder";
    private static final String HIDDEN_STATE = "last_hidden_state";
    private static final int DEFAULT_MAX_LENGTH = 77;

    private final OrtModelSession session;
    private final String inputName;
    private final TensorInfo inputInfo;
    private final String outputName;
    private final int maxLength;
    private int hiddenSize;

    /** Takes ownership of {@code session}; closes it when the model does not look like a CLIP text encoder. */
    OrtTextEncoder(OrtModelSession session) {
        this.session = session;
        try {
            Map<String, TensorInfo> inputs = session.inputs();
            Map<String, TensorInfo> outputs = session.outputs();
            if (inputs.size() != 1) {
                throw new ModelFormatException(session.source(), "Expected a text encoder with one input (the "
                        + "token ids), found " + inputs.keySet());
            }
            Map.Entry<String, TensorInfo> input = inputs.entrySet().iterator().next();
            inputName = input.getKey();
            inputInfo = input.getValue();
            if ((inputInfo.type != OnnxJavaType.INT32 && inputInfo.type != OnnxJavaType.INT64)
                    || inputInfo.getShape().length != 2) {
                throw new ModelFormatException(session.source(), "Text encoder input '" + inputName + "' is "
                        + inputInfo + "; expected int32 or int64 token ids [batch, sequence]");
            }
            outputName = outputs.containsKey(HIDDEN_STATE) ? HIDDEN_STATE : outputs.entrySet().stream()
                    .filter(e -> e.getValue().getShape().length == 3).map(Map.Entry::getKey).findFirst()
                    .orElseThrow(() -> new ModelFormatException(session.source(), "Text encoder has no output '"
                            + HIDDEN_STATE + "' and no other [batch, sequence, hidden] output; outputs: "
                            + outputs));
            long sequence = inputInfo.getShape()[1];
            maxLength = sequence > 0 ? Math.toIntExact(sequence) : DEFAULT_MAX_LENGTH;
            long width = outputs.get(outputName).getShape()[2];
            hiddenSize = width > 0 ? Math.toIntExact(width) : -1;
        } catch (RuntimeException e) {
            session.close();
            throw e;
        }
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException when {@code tokenIds} is not {@link #maxLength()} long
     */
    @Override
    public synchronized Tensor encode(int[] tokenIds) {
        if (tokenIds.length != maxLength) {
            throw new IllegalArgumentException("Expected " + maxLength + " padded token ids, got "
                    + tokenIds.length);
        }
        Tensor hidden;
        try (OnnxTensor ids = OrtInputs.integers(tokenIds, inputInfo, new long[] {1, maxLength}, inputName)) {
            hidden = session.run(Map.of(inputName, ids), Set.of(outputName), "encoding one prompt")
                    .get(outputName);
        } catch (OrtException e) {
            throw new OrtExecutionException(COMPONENT + ": cannot create the input tensor", e);
        }
        if (hidden.rank() != 3 || hidden.dim(0) != 1 || hidden.dim(1) != maxLength) {
            throw new ModelFormatException(session.source(), "Text encoder output '" + outputName + "' has shape "
                    + hidden + ", expected [1, " + maxLength + ", hidden]");
        }
        hiddenSize = hidden.dim(2);
        return hidden.reshape(maxLength, hidden.dim(2));
    }

    /** {@inheritDoc} Read from the model's output shape, or from one encoding when the export left it dynamic. */
    @Override
    public synchronized int hiddenSize() {
        if (hiddenSize < 0) {
            int[] padding = new int[maxLength];
            hiddenSize = encode(padding).dim(1);
        }
        return hiddenSize;
    }

    @Override
    public int maxLength() {
        return maxLength;
    }

    /** Where the encoder runs. */
    Device device() {
        return session.device();
    }

    @Override
    public void close() {
        session.close();
    }
}
