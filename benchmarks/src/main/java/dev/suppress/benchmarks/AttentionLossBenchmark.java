package dev.suppress.benchmarks;

import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.internal.attention.LossEvaluation;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * The attention loss of ALGORITHM.md §4 at the 16×16 level with {@code n = 6} ("a man without glasses", "glasses"
 * negative): the loss and its gradient with respect to the erased maps, as a gradient probe calls it once per ITO
 * iteration ({@link AttentionLoss#objective}, masks computed once beforehand), and the same with the masks computed
 * as well ({@link AttentionLoss#evaluate}: two bilinear resizes through 256×256 per prompt token).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class AttentionLossBenchmark {

    private static final int RESOLUTION = 16;
    private static final int KEYS = 77;
    private static final int PROMPT_LENGTH = 6;
    private static final int NEGATIVE_TOKEN = 4;

    private AttentionLoss loss;
    private AttentionObjective objective;
    private AttentionMaps reference;
    private AttentionMaps erased;

    /** Seeded softmax-normalised maps for both branches, and the objective against the reference branch's. */
    @Setup
    public void prepare() {
        Random random = new Random(345);
        reference = randomMaps(random);
        erased = randomMaps(random);
        loss = AttentionLoss.withReferenceSettings(PROMPT_LENGTH, NEGATIVE_TOKEN);
        objective = loss.objective(reference);
    }

    /** One ITO iteration's loss and {@code dL/dÂ}, {@code dL/dŜ} against fixed reference maps. */
    @Benchmark
    public ObjectiveGradient objectiveWithGradient() {
        return objective.evaluate(erased);
    }

    /** The loss, all four map gradients and the masks from scratch. */
    @Benchmark
    public LossEvaluation evaluateWithMasks() {
        return loss.evaluate(reference.cross(), erased.cross(), reference.self(), erased.self());
    }

    private static AttentionMaps randomMaps(Random random) {
        int pixels = RESOLUTION * RESOLUTION;
        return new AttentionMaps(Tensor.wrapOwned(softmaxRows(random, pixels, KEYS), 1, RESOLUTION, RESOLUTION, KEYS),
                Tensor.wrapOwned(softmaxRows(random, pixels, pixels), 1, RESOLUTION, RESOLUTION, pixels), Map.of());
    }

    /** {@code rows} probability rows of {@code width} entries, from logits of standard deviation 2. */
    private static float[] softmaxRows(Random random, int rows, int width) {
        float[] values = new float[rows * width];
        double[] exp = new double[width];
        for (int row = 0; row < rows; row++) {
            double sum = 0;
            for (int j = 0; j < width; j++) {
                exp[j] = Math.exp(2 * random.nextGaussian());
                sum += exp[j];
            }
            for (int j = 0; j < width; j++) {
                values[row * width + j] = (float) (exp[j] / sum);
            }
        }
        return values;
    }
}
