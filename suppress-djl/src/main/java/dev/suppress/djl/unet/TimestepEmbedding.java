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

    TimestepEmbedding(WeightLoader loader, UNet2DConditionConfig config) {
        this.channels = config.blockOutChannels().get(0);
        this.flipSinToCos = config.flipSinToCos();
        this.freqShift = config.freqShift();
        this.linear1 = new Linear(loader, "time_embedding.linear_1", channels, config.timeEmbedDim(), true);
        this.linear2 = new Linear(loader, "time_embedding.linear_2", config.timeEmbedDim(), config.timeEmbedDim(),
                true);
    }

    /**
     * The sinusoidal projection of one timestep, {@code [channels]}, rounded to float32 at each step where torch
     * computes in float32: {@code exponent = -ln(max_period) * i / (half - shift)},
     * {@code arg = t * exp(exponent)}, then {@code [sin | cos]} (or {@code [cos | sin]} with {@code flip_sin_to_cos}),
     * zero-padded to an odd width.
     */
    static float[] sinusoid(int timestep, int channels, boolean flipSinToCos, int freqShift) {
        int half = channels / 2;
        float[] out = new float[channels];
        float logMaxPeriod = (float) -Math.log(MAX_PERIOD);
        for (int i = 0; i < half; i++) {
            float exponent = logMaxPeriod * i / (float) (half - freqShift);
            float argument = (float) timestep * (float) Math.exp(exponent);
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
        return linear2.forward(Activations.silu(linear1.forward(projection)));
    }
}
