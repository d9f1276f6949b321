package dev.suppress.djl.clip;

import ai.djl.ndarray.NDArray;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.LayerNorm;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/** transformers {@code CLIPEncoderLayer}: pre-LN self-attention and MLP, each with a residual connection. */
final class ClipEncoderLayer {

    private final LayerNorm layerNorm1;
    private final ClipAttention selfAttn;
    private final LayerNorm layerNorm2;
    private final Linear fc1;
    private final Linear fc2;
    private final ClipTextConfig.HiddenAct act;

    /** @param prefix e.g. {@code text_model.encoder.layers.3} */
    ClipEncoderLayer(WeightLoader loader, String prefix, ClipTextConfig config) {
        int width = config.hiddenSize();
        this.layerNorm1 = new LayerNorm(loader, prefix + ".layer_norm1", width, config.layerNormEps());
        this.selfAttn = new ClipAttention(loader, prefix + ".self_attn", config);
        this.layerNorm2 = new LayerNorm(loader, prefix + ".layer_norm2", width, config.layerNormEps());
        this.fc1 = new Linear(loader, prefix + ".mlp.fc1", width, config.intermediateSize(), true);
        this.fc2 = new Linear(loader, prefix + ".mlp.fc2", config.intermediateSize(), width, true);
        this.act = config.hiddenAct();
    }

    NDArray forward(NDArray hidden, NDArray causalMask) {
        NDArray attended = hidden.add(selfAttn.forward(layerNorm1.forward(hidden), causalMask));
        NDArray inner = fc1.forward(layerNorm2.forward(attended));
        inner = act == ClipTextConfig.HiddenAct.QUICK_GELU ? Activations.quickGelu(inner) : Activations.gelu(inner);
        return attended.add(fc2.forward(inner));
    }
}
