package dev.suppress.benchmarks;

import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;

/**
 * Many consecutive generations in one process, watching memory: after every {@code --sample-every} generations the
 * Java heap in use after a full collection, the direct buffers, and the process's resident set ({@code VmRSS},
 * {@code RssAnon} of {@code /proc/self/status}), which holds libtorch's and ONNX Runtime's native allocations. The
 * verdict is the least-squares slope of each over the samples from generation {@value #SLOPE_FROM} on, in MB per 10
 * generations: flat when below {@value #FLAT_MB_PER_10} MB.
 *
 * <p>Run with {@code benchmarks/run-memory.sh}, which fixes the heap ({@code -Xms = -Xmx} and
 * {@code -XX:+AlwaysPreTouch}) so that the resident set does not grow merely because the heap expands.
 */
@Command(name = "repeated-generations", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Runs many generations in one process and samples heap and native memory.")
public final class RepeatedGenerations implements Callable<Integer> {

    /** The samples the slope is fitted to start here: the first generations fill caches and warm allocators. */
    static final int SLOPE_FROM = 20;
    /** The verdict's bound on a flat slope, in MB per 10 generations. */
    static final double FLAT_MB_PER_10 = 1.0;
    private static final double KB_PER_MB = 1024.0;

    @Option(names = "--backend", description = "djl or onnx (default: ${DEFAULT-VALUE}).")
    String backend = "djl";

    @Option(names = "--model", paramLabel = "DIR",
            description = "The model folder (default: the fixtures' tiny-sd, or tiny-sd-onnx for onnx).")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "DIR",
            description = "The tokenizer folder (default for onnx: the fixtures' tiny-sd/tokenizer).")
    Path tokenizer;

    @Option(names = "--scheduler", paramLabel = "FILE",
            description = "scheduler_config.json (default for onnx: the fixtures' tiny-sd one).")
    Path scheduler;

    @Option(names = "--size", description = "Image side in pixels; 0 = the model's (default: 0, 256 for onnx, "
            + "whose fixture export has no UNet config).")
    Integer size;

    @Option(names = "--generations", description = "Generations to run (default: ${DEFAULT-VALUE}).")
    int generations = 100;

    @Option(names = "--sample-every", description = "Generations between samples (default: ${DEFAULT-VALUE}).")
    int sampleEvery = 10;

    @Option(names = "--steps", description = "DDIM steps (default: ${DEFAULT-VALUE}); the ITO window scales with "
            + "them (steps 10 .. 19 of 50).")
    int steps = 50;

    @Option(names = "--ito-iterations", description = "The most ITO iterations per step (default: the request's, "
            + "10).")
    Integer itoIterations;

    @Option(names = "--cancel-every", description = "After every N-th generation, one more that is cancelled "
            + "halfway through its steps, from the progress listener's cancelRequested() (default: 0, none).")
    int cancelEvery;

    @Option(names = "--mode", description = "fast or reference (default: fast).")
    String mode = "fast";

    @Option(names = "--first-seed", description = "Generation g uses seed first-seed + g (default: "
            + "${DEFAULT-VALUE}).")
    long firstSeed = 1;

    private final PrintStream out = System.out;
    private int cancelled;

    /** Runs the generations; exit code 0 when both slopes are flat, 1 otherwise. */
    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(new CommandLine(new RepeatedGenerations()).execute(args));
    }

    @Override
    public Integer call() {
        boolean onnx = backend.equals("onnx");
        Path folder = model != null ? model : onnx ? Fixtures.tinyOnnxModel() : Fixtures.tinyModel();
        Suppressor.Builder builder = Suppressor.builder().backend(backend).modelFolder(folder);
        if (tokenizer != null || onnx) {
            builder.tokenizerFolder(tokenizer != null ? tokenizer : Fixtures.tinyModel().resolve("tokenizer"));
        }
        if (scheduler != null || onnx) {
            builder.schedulerConfig(scheduler != null ? scheduler
                    : Fixtures.tinyModel().resolve("scheduler/scheduler_config.json"));
        }
        int imageSize = size != null ? size : onnx ? 256 : 0;
        out.printf(Locale.ROOT, "%s backend, model %s, %d generations of %d steps (%s mode, default options%s), "
                        + "seeds %d..%d, size %s%s%n", backend, folder, generations, steps, mode,
                itoIterations == null ? "" : ", at most " + itoIterations + " ITO iterations per step", firstSeed,
                firstSeed + generations - 1, imageSize == 0 ? "the model's" : imageSize + " px",
                cancelEvery > 0 ? "; after every " + cancelEvery + "th, one cancelled at step " + steps / 2 : "");
        out.printf(Locale.ROOT, "machine: %d processors, load average %s; max heap %.0f MB; "
                        + "ai.djl.pytorch.num_threads=%s%n", Runtime.getRuntime().availableProcessors(),
                Machine.loadAverage(), Runtime.getRuntime().maxMemory() / KB_PER_MB / KB_PER_MB,
                System.getProperty("ai.djl.pytorch.num_threads", "(default)"));

        List<Sample> samples = new ArrayList<>();
        long start = System.nanoTime();
        try (Suppressor suppressor = builder.build()) {
            samples.add(Sample.take(0, start));
            out.println("  gens  elapsed s  heap used MB  direct MB  VmRSS MB  RssAnon MB  last generation s");
            print(samples.get(0), Double.NaN);
            for (int generation = 1; generation <= generations; generation++) {
                SuppressionResult result = suppressor.generate(request(firstSeed + generation - 1, imageSize));
                if (cancelEvery > 0 && generation % cancelEvery == 0) {
                    cancelHalfway(suppressor, request(firstSeed + generation - 1, imageSize));
                }
                if (generation % sampleEvery == 0 || generation == generations) {
                    Sample sample = Sample.take(generation, start);
                    samples.add(sample);
                    print(sample, FastVsReference.seconds(result.elapsed()));
                }
            }
        }
        double total = FastVsReference.seconds(System.nanoTime() - start);
        out.printf(Locale.ROOT, "%d generations in %.1f s (%.2f s each, model loading included)%s%n", generations,
                total, total / generations, cancelled > 0 ? ", and " + cancelled + " cancelled ones" : "");

        boolean heapFlat = verdict("heap used after GC", samples, Sample::heapMegabytes);
        boolean rssFlat = verdict("VmRSS", samples, Sample::rssMegabytes);
        verdict("RssAnon", samples, Sample::anonymousMegabytes);
        verdict("direct buffers", samples, Sample::directMegabytes);
        return heapFlat && rssFlat ? 0 : 1;
    }

    /** A generation cancelled from another thread's point of view: its listener's flag is raised after step S/2. */
    private void cancelHalfway(Suppressor suppressor, SuppressionRequest request) {
        ProgressListener listener = new ProgressListener() {
            private volatile boolean cancel;

            @Override
            public Progress onDenoisingStep(DenoisingStep step) {
                cancel |= step.stepIndex() + 1 >= steps / 2;
                return Progress.CONTINUE;
            }

            @Override
            public boolean cancelRequested() {
                return cancel;
            }
        };
        try {
            suppressor.generate(request, listener);
            throw new IllegalStateException("The generation to cancel ran to its end");
        } catch (GenerationCancelledException expected) {
            cancelled++;
        }
    }

    private SuppressionRequest request(long seed, int imageSize) {
        SuppressionRequest.Builder request = SuppressionRequest.builder("a man without glasses").suppress("glasses")
                .seed(seed).steps(steps).imageSize(imageSize)
                .mode(mode.equals("reference") ? Mode.REFERENCE : Mode.FAST);
        if (steps != 50) {
            request.maxItoStep(Math.round(steps * 20 / 50f));
        }
        if (itoIterations != null) {
            request.itoIterations(itoIterations);
        }
        return request.build();
    }

    private void print(Sample sample, double lastGenerationSeconds) {
        out.printf(Locale.ROOT, "  %4d  %9.1f  %12.1f  %9.2f  %8.1f  %10.1f  %17s%n", sample.generation,
                sample.elapsedSeconds, sample.heapMegabytes(), sample.directMegabytes(), sample.rssMegabytes(),
                sample.anonymousMegabytes(), Double.isNaN(lastGenerationSeconds) ? "-"
                        : String.format(Locale.ROOT, "%.2f", lastGenerationSeconds));
    }

    /** Prints the slope over generations ≥ {@link #SLOPE_FROM} and says whether it is flat. */
    private boolean verdict(String name, List<Sample> samples, ToDoubleFunction<Sample> value) {
        List<Sample> fitted = samples.stream().filter(sample -> sample.generation >= SLOPE_FROM).toList();
        if (fitted.size() < 2 || value.applyAsDouble(fitted.get(0)) < 0) {
            out.printf(Locale.ROOT, "%s: too few samples from generation %d on (or not available)%n", name,
                    SLOPE_FROM);
            return true;
        }
        double meanX = 0;
        double meanY = 0;
        for (Sample sample : fitted) {
            meanX += sample.generation;
            meanY += value.applyAsDouble(sample);
        }
        meanX /= fitted.size();
        meanY /= fitted.size();
        double covariance = 0;
        double variance = 0;
        for (Sample sample : fitted) {
            double dx = sample.generation - meanX;
            covariance += dx * (value.applyAsDouble(sample) - meanY);
            variance += dx * dx;
        }
        double slopePer10 = 10 * covariance / variance;
        Sample first = fitted.get(0);
        Sample last = fitted.get(fitted.size() - 1);
        boolean flat = Math.abs(slopePer10) < FLAT_MB_PER_10;
        out.printf(Locale.ROOT, "%s: slope %+.3f MB per 10 generations over generations %d..%d (%.1f -> %.1f MB): "
                        + "%s%n", name, slopePer10, first.generation, last.generation, value.applyAsDouble(first),
                value.applyAsDouble(last), flat ? "flat" : "GROWS");
        return flat;
    }

    /** Memory after {@code generation} generations. */
    private record Sample(int generation, double elapsedSeconds, long heapBytes, long directBytes, long rssKilobytes,
                          long anonymousKilobytes) {

        static Sample take(int generation, long start) {
            double elapsed = FastVsReference.seconds(System.nanoTime() - start);
            // Twice, with a pause: the second collection reclaims what the first one's cleaners released.
            System.gc();
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            System.gc();
            long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            long direct = 0;
            for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
                if (pool.getName().equals("direct")) {
                    direct = pool.getMemoryUsed();
                }
            }
            return new Sample(generation, elapsed, heap, direct, Machine.statusKilobytes("VmRSS"),
                    Machine.statusKilobytes("RssAnon"));
        }

        double heapMegabytes() {
            return heapBytes / KB_PER_MB / KB_PER_MB;
        }

        double directMegabytes() {
            return directBytes / KB_PER_MB / KB_PER_MB;
        }

        double rssMegabytes() {
            return rssKilobytes < 0 ? -1 : rssKilobytes / KB_PER_MB;
        }

        double anonymousMegabytes() {
            return anonymousKilobytes < 0 ? -1 : anonymousKilobytes / KB_PER_MB;
        }
    }
}
