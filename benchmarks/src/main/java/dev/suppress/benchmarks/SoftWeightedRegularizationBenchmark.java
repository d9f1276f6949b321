package dev.suppress.benchmarks;

import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * {@link SoftWeightedRegularization#apply} (ALGORITHM.md §2): gather the {@code k} rewritten rows, a float64 SVD of
 * the {@code M x k} matrix, shrink the singular values, rebuild and scatter back. For "a man without glasses"
 * ({@code n = 6}) with "glasses" (index 4) suppressed, {@code k = 1 + 78 - 6 = 73}. The pipeline applies it once per
 * denoising step from {@code ⌈(1−τ)S⌉} on (40 times in a 50-step run).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class SoftWeightedRegularizationBenchmark {

    /** n for "a man without glasses": SOT, four words, the first EOT. */
    private static final int PROMPT_LENGTH = 6;
    /** "glasses". */
    private static final int[] NEGATIVE_TOKENS = {4};

    /** The embedding width M: 768 for SD 1.x, 80 for the fixture model. */
    @Param({"768", "80"})
    public int width;

    private final SoftWeightedRegularization regularization = SoftWeightedRegularization.softWeight(1.0);
    private Tensor embedding;

    /** A seeded standard-normal {@code [77, M]} embedding (the SVD's cost does not depend on the values). */
    @Setup
    public void draw() {
        Random random = new Random(345);
        float[] values = new float[SoftWeightedRegularization.SEQUENCE_LENGTH * width];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        embedding = Tensor.wrapOwned(values, SoftWeightedRegularization.SEQUENCE_LENGTH, width);
    }

    /** One application with {@code k = 73}. */
    @Benchmark
    public Tensor apply() {
        return regularization.apply(embedding, NEGATIVE_TOKENS, PROMPT_LENGTH);
    }
}
