package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.Intermediates;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code FeedForward} with {@code activation_fn="geglu"} and {@code mult=4}: {@code net.0} is
 * {@code GEGLU} (a projection to twice the inner width, split into value and gate, {@code value * gelu(gate)}),
 * {@code net.2} the projection back.
 */
final class FeedForward {

    private final Linear geluProj;
    private final Linear out;

    /** @param prefix e.g. {@code down_blocks.0.attentions.0.transformer_blocks.0.ff} */
    FeedForward(WeightLoader loader, String prefix, int dim) {
        int inner = 4 * dim;
        this.geluProj = new Linear(loader, prefix + ".net.0.proj", dim, 2 * inner, true);
        this.out = new Linear(loader, prefix + ".net.2", inner, dim, true);
    }

    NDArray forward(NDArray hidden) {
        return Intermediates.freedAfter(hidden, input -> {
            NDArray projected = geluProj.forward(input);
            NDList valueAndGate = projected.split(2, projected.getShape().dimension() - 1);
            return out.forward(valueAndGate.get(0).mul(Activations.gelu(valueAndGate.get(1))));
        });
    }
}
