package dev.suppress.examples.tiny;

import dev.suppress.core.tensor.Tensor;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * Seeded random values for every parameter of a model part, the same on every machine.
 *
 * <p>The scheme follows PyTorch's defaults in spirit: normalization gains 1 and biases 0; embeddings
 * {@code N(0, 0.02²)} as transformers initialises CLIP's; every other weight {@code N(0, 1/(3·fanIn))}, the variance
 * of {@code torch.nn.Linear}'s and {@code Conv2d}'s default uniform initialisation. As in the fixture model, the
 * UNet's attention query and key weights are then multiplied by 3, otherwise the attention maps are nearly uniform.
 *
 * <p>Each tensor draws from its own {@link SplittableRandom} seeded from the model seed and its key, so its values
 * do not depend on which other parameters exist. Normal deviates come from the Box–Muller transform with
 * {@link StrictMath}, whose results the Java specification fixes bit for bit.
 */
final class RandomWeights {

    /** transformers' {@code initializer_range} for CLIP's token and position embeddings. */
    static final double EMBEDDING_STD = 0.02;

    /** The factor on the UNet's {@code to_q} and {@code to_k} weights (the fixture model's). */
    static final double ATTENTION_SHARPENING = 3.0;

    /** Mixes the key's hash into the seed (the 64-bit golden ratio, SplitMix's increment). */
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;

    private RandomWeights() {
    }

    /**
     * Random tensors for every parameter, in key order.
     *
     * @param shapes key → shape, as a part's {@code parameterShapes} lists them; not modified
     * @param seed   the model's seed
     */
    static Map<String, Tensor> generate(Map<String, long[]> shapes, long seed) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        new TreeMap<>(shapes).forEach((key, shape) -> {
            int[] dims = new int[shape.length];
            for (int axis = 0; axis < shape.length; axis++) {
                dims[axis] = Math.toIntExact(shape[axis]);
            }
            tensors.put(key, Tensor.wrapOwned(values(key, dims, seed), dims));
        });
        return tensors;
    }

    /** The values of one parameter, row-major. */
    static float[] values(String key, int[] shape, long seed) {
        int count = 1;
        for (int dim : shape) {
            count = Math.multiplyExact(count, dim);
        }
        float[] values = new float[count];
        if (shape.length == 1) {
            // every one-dimensional weight of CLIP, the UNet and the VAE is a LayerNorm or GroupNorm gain
            if (key.endsWith(".weight")) {
                Arrays.fill(values, 1f);
            }
            return values;
        }
        double std;
        if (key.endsWith("embedding.weight")) {
            std = EMBEDDING_STD;
        } else {
            int fanIn = count / shape[0];
            std = 1.0 / Math.sqrt(3.0 * fanIn);
            if (key.contains(".transformer_blocks.") && (key.endsWith(".to_q.weight") || key.endsWith(".to_k.weight"))) {
                std *= ATTENTION_SHARPENING;
            }
        }
        SplittableRandom random = new SplittableRandom(seed * GOLDEN_GAMMA + key.hashCode());
        for (int i = 0; i < count; i += 2) {
            // Box–Muller: two independent N(0, 1) deviates from two uniforms, u1 in (0, 1] so the log is finite
            double radius = StrictMath.sqrt(-2.0 * StrictMath.log(1.0 - random.nextDouble()));
            double angle = 2.0 * StrictMath.PI * random.nextDouble();
            values[i] = (float) (std * radius * StrictMath.cos(angle));
            if (i + 1 < count) {
                values[i + 1] = (float) (std * radius * StrictMath.sin(angle));
            }
        }
        return values;
    }
}
