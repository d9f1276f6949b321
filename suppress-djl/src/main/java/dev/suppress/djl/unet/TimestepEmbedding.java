package dev.suppress.djl.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.suppress.djl.nn.Activations;
import dev.suppress.djl.nn.ComputePrecision;
import dev.suppress.djl.nn.Linear;
import dev.suppress.djl.weights.WeightLoader;

/**
 * diffusers {@code Timesteps} (the sinusoidal projection, {@code get_timestep_embedding} in embeddings.py) followed by
 * {@code TimestepEmbedding} ({@code linear_1}, SiLU, {@code linear_2}).
 */
final class TimestepEmbedding {

    /** {@code get_timestep_embedding}'s {@code max_period}. */
    private static final double MAX_PERIOD = 10000;

    private final int channels;
    private final boolean flipSinToCos;
    private final int freqShift;
    private final Linear linear1;
    private final Linear linear2;

    /** The UNet's {@code time_proj} and {@code time_embedding}. */
    TimestepEmbedding(WeightLoader loader, UNet2DConditionConfig config) {
        this(loader, "time_embedding", config.blockOutChannels().get(0), config.timeEmbedDim(), config);
    }

    /**
     * A {@code TimestepEmbedding} MLP at {@code prefix} from {@code inChannels} to {@code timeEmbedDim} features,
     * whose {@link #forward(NDManager, int, DataType)} feeds it a sinusoid of width {@code inChannels} (SDXL's
     * {@code add_embedding} is fed through {@link #mlp} instead).
     */
    TimestepEmbedding(WeightLoader loader, String prefix, int inChannels, int timeEmbedDim,
                      UNet2DConditionConfig config) {
        this.channels = inChannels;
        this.flipSinToCos = config.flipSinToCos();
        this.freqShift = config.freqShift();
        this.linear1 = new Linear(loader, prefix + ".linear_1", inChannels, timeEmbedDim, true);
        this.linear2 = new Linear(loader, prefix + ".linear_2", timeEmbedDim, timeEmbedDim, true);
    }

    /**
     * The sinusoidal projection of one timestep (or of one SDXL time id, a size in pixels), {@code [channels]},
     * rounded to float32 at each step where torch computes in float32:
     * {@code exponent = -ln(max_period) * i / (half - shift)}, {@code arg = t * exp(exponent)}, then
     * {@code [sin | cos]} (or {@code [cos | sin]} with {@code flip_sin_to_cos}), zero-padded to an odd width.
     */
    static float[] sinusoid(float timestep, int channels, boolean flipSinToCos, int freqShift) {
        int half = channels / 2;
        float[] out = new float[channels];
        float logMaxPeriod = (float) -Math.log(MAX_PERIOD);
        for (int i = 0; i < half; i++) {
            float exponent = logMaxPeriod * i / (float) (half - freqShift);
            float argument = timestep * (float) Math.exp(exponent);
            float sin = (float) Math.sin(argument);
            float cos = (float) Math.cos(argument);
            out[flipSinToCos ? half + i : i] = sin;
            out[flipSinToCos ? i : half + i] = cos;
        }
        return out;
    }

    /**
     * @param manager     where the result lives
     * @param computeType the type of the linear layers' weights; the sinusoid is computed in float32 and cast
     * @return {@code [1, timeEmbedDim]} in {@code computeType}, broadcast over the batch by the resnets
     */
    NDArray forward(NDManager manager, int timestep, DataType computeType) {
        NDArray projection = ComputePrecision.cast(manager.create(sinusoid(timestep, channels, flipSinToCos,
                freqShift), new Shape(1, channels)), computeType);
        return mlp(projection);
    }

    /** {@code linear_2(silu(linear_1(x)))}: {@code x [..., inChannels]} in the weights' type. */
    NDArray mlp(NDArray x) {
        return linear2.forward(Activations.silu(linear1.forward(x)));
    }
}
