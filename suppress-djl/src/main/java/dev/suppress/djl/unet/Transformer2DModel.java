package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.djl.nn.Conv2d;
import dev.suppress.djl.nn.GroupNorm;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

import java.util.ArrayList;
import java.util.List;

/**
 * diffusers {@code Transformer2DModel} (transformer_2d.py) on continuous input: GroupNorm (eps 1e-6), {@code proj_in}
 * (a 1x1 convolution, or a Linear with {@code use_linear_projection}, SD 2.x), the {@link BasicTransformerBlock}s
 * over the flattened pixels, {@code proj_out}, and the residual.
 */
final class Transformer2DModel {

    /** diffusers fixes this GroupNorm's epsilon. */
    private static final double NORM_EPS = 1e-6;

    private final GroupNorm norm;
    private final Conv2d projInConv;
    private final Linear projInLinear;
    private final List<BasicTransformerBlock> blocks = new ArrayList<>();
    private final Conv2d projOutConv;
    private final Linear projOutLinear;
    private final int inner;

    /** @param prefix e.g. {@code up_blocks.2.attentions.1} */
    Transformer2DModel(WeightLoader loader, AttentionLayerRegistry registry, String prefix, UNetPlace place,
                       int downsampleFactor, int channels, int heads, int layers, UNet2DConditionConfig config) {
        int headDim = channels / heads;
        this.inner = heads * headDim;
        this.norm = new GroupNorm(loader, prefix + ".norm", config.normNumGroups(), channels, NORM_EPS);
        if (config.useLinearProjection()) {
            this.projInLinear = new Linear(loader, prefix + ".proj_in", channels, inner, true);
            this.projInConv = null;
        } else {
            this.projInConv = new Conv2d(loader, prefix + ".proj_in", channels, inner, 1, 1, 0);
            this.projInLinear = null;
        }
        for (int i = 0; i < layers; i++) {
            blocks.add(new BasicTransformerBlock(loader, registry, prefix + ".transformer_blocks." + i, place,
                    downsampleFactor, inner, heads, headDim, config.crossAttentionDim()));
        }
        if (config.useLinearProjection()) {
            this.projOutLinear = new Linear(loader, prefix + ".proj_out", inner, channels, true);
            this.projOutConv = null;
        } else {
            this.projOutConv = new Conv2d(loader, prefix + ".proj_out", inner, channels, 1, 1, 0);
            this.projOutLinear = null;
        }
    }

    /**
     * @param hidden {@code [batch, channels, h, w]}
     * @return {@code [batch, channels, h, w]}; unspecified once the recorder is done
     */
    NDArray forward(NDArray hidden, NDArray context, AttentionRecorder recorder) {
        return Intermediates.freedAfter(hidden, input -> project(input, context, recorder));
    }

    private NDArray project(NDArray hidden, NDArray context, AttentionRecorder recorder) {
        Shape shape = hidden.getShape();
        long batch = shape.get(0);
        long height = shape.get(2);
        long width = shape.get(3);
        NDArray x = norm.forward(hidden);
        if (projInConv != null) {
            x = projInConv.forward(x).transpose(0, 2, 3, 1).reshape(batch, height * width, inner);
        } else {
            x = projInLinear.forward(x.transpose(0, 2, 3, 1).reshape(batch, height * width, shape.get(1)));
        }
        for (BasicTransformerBlock block : blocks) {
            x = block.forward(x, context, recorder);
            if (recorder.done()) {
                return hidden;
            }
        }
        if (projOutConv != null) {
            x = projOutConv.forward(x.reshape(batch, height, width, inner).transpose(0, 3, 1, 2));
        } else {
            x = projOutLinear.forward(x).reshape(batch, height, width, shape.get(1)).transpose(0, 3, 1, 2);
        }
        return x.add(hidden);
    }
}
