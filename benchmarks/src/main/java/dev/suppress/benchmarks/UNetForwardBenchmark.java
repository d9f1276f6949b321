package dev.suppress.benchmarks;

import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * One UNet evaluation of the fixture model on DJL (CPU, libtorch): the full pass with the ITO capture (as every
 * denoising step runs it), the full pass without capture, and {@link DenoiserWithAttention#attention}, the pass cut
 * after the last captured attention layer (fast mode's finite differences and the cost share that probes' forward
 * passes are counted with). Batch 2 is one branch's unconditional and conditional halves.
 *
 * <p>The forked JVM runs libtorch on one intra-op and one inter-op thread (the README's advice for shared cores);
 * override with {@code -jvmArgsAppend -Dai.djl.pytorch.num_threads=N}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=1",
        "-Dai.djl.pytorch.num_interop_threads=1"})
public class UNetForwardBenchmark {

    /** Samples per pass. */
    @Param({"1", "2"})
    public int batch;

    private TinyDjlModel model;
    private DenoiserWithAttention denoiser;
    private Tensor latents;
    private Tensor contexts;

    /** Loads the fixture model. */
    @Setup
    public void load() {
        model = TinyDjlModel.open();
        denoiser = model.backend.denoiser();
        latents = model.latents(batch);
        contexts = model.contexts(batch);
    }

    /** Releases the model's native memory. */
    @TearDown
    public void close() {
        model.close();
    }

    /** The full pass: the noise prediction and the aggregated 16×16 maps. */
    @Benchmark
    public DenoiserOutput denoise() {
        return denoiser.denoise(latents, TinyDjlModel.TIMESTEP, contexts, model.capture);
    }

    /** The full pass, no attention returned. */
    @Benchmark
    public DenoiserOutput denoiseWithoutCapture() {
        return denoiser.denoise(latents, TinyDjlModel.TIMESTEP, contexts, null);
    }

    /** The pass stopped after the last 16×16 attention layer, maps only. */
    @Benchmark
    public AttentionMaps attention() {
        return denoiser.attention(latents, TinyDjlModel.TIMESTEP, contexts, model.capture);
    }
}
