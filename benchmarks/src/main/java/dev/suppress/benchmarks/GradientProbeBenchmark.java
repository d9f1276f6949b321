package dev.suppress.benchmarks;

import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.ProbeResult;
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
 * One DJL gradient probe, an ITO iteration's UNet work (ALGORITHM.md §4): a batch-1 forward pass with the context
 * requiring gradient, the attention loss against the original branch's maps, and the backward pass to
 * {@code dL/d context}. {@link ForwardExtent#FULL} runs the whole UNet forward as the reference does;
 * {@link ForwardExtent#THROUGH_CAPTURED_LAYERS} stops after the last 16×16 layer (fast mode). The probed context is
 * the SWR embedding, the reference maps come from one pass with the prompt's embedding.
 *
 * <p>libtorch runs on one thread in the fork, as in {@link UNetForwardBenchmark}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 3, time = 3)
@Fork(value = 1, jvmArgsAppend = {"-Dai.djl.offline=true", "-Dai.djl.pytorch.num_threads=1",
        "-Dai.djl.pytorch.num_interop_threads=1"})
public class GradientProbeBenchmark {

    /** How much of the UNet the forward pass runs. */
    @Param({"FULL", "THROUGH_CAPTURED_LAYERS"})
    public ForwardExtent extent;

    private TinyDjlModel model;
    private GradientProbe probe;
    private AttentionObjective objective;

    /** Loads the fixture model and the objective's reference maps. */
    @Setup
    public void load() {
        model = TinyDjlModel.open();
        probe = model.backend.gradientProbe().orElseThrow();
        AttentionLoss loss = AttentionLoss.withReferenceSettings(model.promptLength,
                TinyDjlModel.NEGATIVE_TOKENS);
        objective = loss.objective(model.backend.denoiser().attention(model.latent, TinyDjlModel.TIMESTEP,
                model.contexts(1), model.capture));
    }

    /** Releases the model's native memory. */
    @TearDown
    public void close() {
        model.close();
    }

    /** Forward, loss, backward: the loss and {@code dL/d context}. */
    @Benchmark
    public ProbeResult probe() {
        return probe.probe(model.latent, TinyDjlModel.TIMESTEP, model.erasedContext, model.capture, objective,
                extent);
    }
}
