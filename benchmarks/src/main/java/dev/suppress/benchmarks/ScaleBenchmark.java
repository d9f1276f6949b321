package dev.suppress.benchmarks;

import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.UNetWork;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.internal.attention.AttentionLoss;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.internal.schedule.TorchGaussianNoise;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;
import dev.suppress.djl.DjlDiffusionBackend;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The cost of each phase of a suppressed generation on a model folder (any diffusers SD 1.x/2.x folder, e.g. one
 * that {@code suppress make-model} wrote), on the DJL CPU backend: wall seconds and peak resident memory of text
 * encoding, one UNet step at batch 1, 2 and 4 (the shapes the schedules use: one branch, a merged or single branch
 * with guidance, two branches with guidance), the ITO reference capture, one full and one truncated ITO probe with
 * its backward pass, one null-text inversion iteration (the noise-gradient probe) and one VAE decode. Then a whole-
 * image estimate per mode, checked against a real run of {@code --steps N} steps, and a markdown table.
 *
 * <p>Peak memory per phase: {@code /proc/self/clear_refs} is written {@code 5} before the phase (resetting VmHWM to
 * the current resident size) and VmHWM is read after it; the table gives that peak and its excess over the resident
 * size before the phase. Each phase runs once after one untimed warm-up call of the same shape (libtorch allocates
 * and chooses kernels on first use).
 *
 * <p>The estimate: a run costs text encoding (the prompt and the empty prompt), its UNet work in forward-equivalents
 * ({@link UNetWork#forwardEquivalents}: a batch-1 forward pass is 1) times the measured seconds of one per-sample
 * forward pass (the batch-4 step over 4), and one decode per image. A run's forward-equivalents depend on the
 * schedule, not on the model's size except through the share of the UNet an attention-only pass or a truncated probe
 * runs, so they are counted by running the same request on the fixture model; the real short run's own count
 * corrects that share (the ratio real/fixture at N steps is applied to the fixture's 50-step count).
 *
 * <pre>flock /tmp/suppress-heavy.lock java -Dai.djl.offline=true -cp benchmarks/target/benchmarks.jar \
 *     dev.suppress.benchmarks.ScaleBenchmark MODEL_DIR [--steps N] [--precision fp32|bf16] [--baseline fp32]
 *     [--skip-real-run] [--unet-only]</pre>
 *
 * <p>{@code --baseline P} also times the UNet steps with the networks in precision {@code P}, in the same run (the
 * model loaded a second time, before the other phases, and closed) and prints each batch's time ratio;
 * {@code --unet-only} stops after the UNet steps.
 */
public final class ScaleBenchmark {

    static final String PROMPT = "a man without glasses";
    static final String SUPPRESS = "glasses";
    static final int[] NEGATIVE_TOKENS = {4};
    static final int TIMESTEP = 501;
    static final long SEED = 2023;
    static final int FULL_STEPS = 50;

    private final List<String[]> rows = new ArrayList<>();

    private ScaleBenchmark() {
    }

    public static void main(String[] args) throws IOException {
        Path folder = Path.of(args[0]);
        int steps = 3;
        Precision precision = Precision.FP32;
        boolean realRun = true;
        Precision baseline = null;
        boolean unetOnly = false;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--baseline" -> baseline = Precision.valueOf(args[++i].toUpperCase(Locale.ROOT));
                case "--unet-only" -> unetOnly = true;
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--precision" -> precision = Precision.valueOf(args[++i].toUpperCase(Locale.ROOT));
                case "--skip-real-run" -> realRun = false;
                default -> throw new IllegalArgumentException("Unknown argument " + args[i]
                        + "; usage: ScaleBenchmark MODEL_DIR [--steps N] [--precision fp32|bf16|fp16] [--baseline fp32] "
                        + "[--skip-real-run] [--unet-only]");
            }
        }
        if (!Files.isDirectory(folder)) {
            throw new IllegalArgumentException("Model folder " + folder + " does not exist");
        }
        new ScaleBenchmark().run(folder, steps, precision, baseline, realRun, unetOnly);
    }

    private void run(Path folder, int steps, Precision precision, Precision baseline, boolean realRun,
                     boolean unetOnly) throws IOException {
        long started = System.nanoTime();
        double[] baselineSteps = null;
        if (baseline != null) {
            try (DjlDiffusionBackend backend = DjlDiffusionBackend.open(BackendOptions.cpu(folder)
                    .withPrecision(baseline))) {
                baselineSteps = unetSteps(backend, folder, "(" + baseline.label() + " baseline) ");
            }
            System.gc();
        }
        BackendOptions options = BackendOptions.cpu(folder).withPrecision(precision);
        double perSampleForward;
        double textSeconds;
        double decodeSeconds;
        Measured load = measure("load (text encoder, UNet, VAE)", () -> DjlDiffusionBackend.open(options));
        try (DjlDiffusionBackend backend = (DjlDiffusionBackend) load.value) {
            ClipTokenizer tokenizer = ClipTokenizer.load(folder.resolve("tokenizer"));
            TokenizedPrompt prompt = tokenizer.tokenize(PROMPT);
            Measured text = timed("text encoding (one prompt)", () -> backend.textEncoder().encode(prompt.inputIds()));
            textSeconds = text.seconds;
            Tensor context = (Tensor) text.value;
            Tensor erased = SoftWeightedRegularization.softWeight(1.0).apply(context, NEGATIVE_TOKENS,
                    prompt.length());
            int side = backend.denoiser().description().sampleSize();
            Tensor latent = TorchGaussianNoise.randn(SEED, 1, backend.denoiser().description().inChannels(), side,
                    side);
            double[] stepSeconds = unetSteps(backend, folder, "");
            if (baselineSteps != null) {
                System.out.println();
                for (int i = 0; i < BATCHES.length; i++) {
                    System.out.printf(Locale.ROOT, "UNet step, batch %d: %s %.2f s, %s %.2f s, ratio %.3f%n",
                            BATCHES[i], precision.label(), stepSeconds[i], baseline.label(), baselineSteps[i],
                            stepSeconds[i] / baselineSteps[i]);
                }
            }
            if (unetOnly) {
                printPhases(folder, precision);
                return;
            }
            perSampleForward = stepSeconds[BATCHES.length - 1] / 4;
            AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            Measured maps = timed("ITO reference capture (attention-only pass, batch 1)", () -> backend.denoiser()
                    .attention(latent, TIMESTEP, stack(context, 1), capture));
            AttentionObjective objective = AttentionLoss.withReferenceSettings(prompt.length(), NEGATIVE_TOKENS)
                    .objective((dev.suppress.core.attention.AttentionMaps) maps.value);
            GradientProbe probe = backend.gradientProbe().orElseThrow();
            timed("ITO probe, full forward + backward", () -> probe.probe(latent, TIMESTEP, erased, capture,
                    objective, ForwardExtent.FULL));
            timed("ITO probe, truncated forward + backward", () -> probe.probe(latent, TIMESTEP, erased, capture,
                    objective, ForwardExtent.THROUGH_CAPTURED_LAYERS));
            NoiseObjective squared = noise -> new NoiseObjective.NoiseGradient(0.5 * sumOfSquares(noise), noise);
            timed("null-text inversion iteration (noise gradient, batch 1)", () -> probe.noiseGradient(latent,
                    TIMESTEP, context, squared));
            Measured decode = timed("VAE decode, one image", () -> backend.decoder().decode(latent));
            requireFinite((Tensor) decode.value, "the decoded image");
            decodeSeconds = decode.seconds;
        }
        System.gc();
        printPhases(folder, precision);

        System.out.println();
        System.out.printf(Locale.ROOT, "## Whole image (%d² px, %d steps): estimate from the phases%n%n",
                8 * sampleSize(folder), FULL_STEPS);
        System.out.printf(Locale.ROOT, "forward pass per sample (batch-4 step / 4): %.2f s%n%n", perSampleForward);
        System.out.println("| mode | forward-equiv. N=" + steps + " | estimate N=" + steps + " (s) | real N="
                + steps + " (s) | real peak RSS (MB) | estimate error | forward-equiv. 50 | estimate 50 steps (min) |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
        record Run(String name, Mode mode, boolean suppressedOnly, boolean real) {
        }
        List<Run> runs = List.of(new Run("fast, suppressed only", Mode.FAST, true, realRun),
                new Run("fast, both images", Mode.FAST, false, false),
                new Run("reference", Mode.REFERENCE, false, false));
        double correction = 1;
        for (Run run : runs) {
            double fixtureShort = fixtureWork(run.mode, run.suppressedOnly, steps).forwardEquivalents();
            double fixtureFull = fixtureWork(run.mode, run.suppressedOnly, FULL_STEPS).forwardEquivalents();
            int images = run.suppressedOnly ? 1 : 2;
            double fixed = 2 * textSeconds + images * decodeSeconds;
            String real = "not run";
            String realPeak = "";
            String error = "";
            double equivalentsShort = fixtureShort * correction;
            if (run.real) {
                resetPeak();
                long before = status("VmRSS");
                SuppressionResult result;
                double loadSeconds;
                double runSeconds;
                long loadStarted = System.nanoTime();
                try (Suppressor suppressor = Suppressor.builder().modelFolder(folder).backend("djl")
                        .precision(precision).build()) {
                    long runStarted = System.nanoTime();
                    loadSeconds = (runStarted - loadStarted) / 1e9;
                    result = suppressor.generate(request(run.mode, run.suppressedOnly, steps));
                    runSeconds = (System.nanoTime() - runStarted) / 1e9;
                }
                requireFinite(result.suppressedImage(), "the real run's image");
                equivalentsShort = result.work().forwardEquivalents();
                correction = equivalentsShort / fixtureShort;
                double estimate = fixed + equivalentsShort * perSampleForward;
                // the estimate leaves out loading, so the generation is timed apart from it
                real = String.format(Locale.ROOT, "%.0f (+%.0f load)", runSeconds, loadSeconds);
                realPeak = String.format(Locale.ROOT, "%d", status("VmHWM") / 1024);
                error = String.format(Locale.ROOT, "%+.0f%%", 100 * (estimate - runSeconds) / runSeconds);
                if (before < 0) {
                    realPeak = "?";
                }
            }
            double estimateShort = fixed + equivalentsShort * perSampleForward;
            double equivalentsFull = fixtureFull * correction;
            double estimateFull = fixed + equivalentsFull * perSampleForward;
            System.out.printf(Locale.ROOT, "| %s | %.1f | %.0f | %s | %s | %s | %.1f | %.1f |%n", run.name,
                    equivalentsShort, estimateShort, real, realPeak, error, equivalentsFull, estimateFull / 60);
        }
        System.out.printf(Locale.ROOT, "%nbenchmark wall time %.1f min%n", (System.nanoTime() - started) / 60e9);
    }

    private static final int[] BATCHES = {1, 2, 4};

    /** Times one UNet step at each batch the schedules use; the seconds per batch, in {@link #BATCHES} order. */
    private double[] unetSteps(DjlDiffusionBackend backend, Path folder, String label) throws IOException {
        ClipTokenizer tokenizer = ClipTokenizer.load(folder.resolve("tokenizer"));
        Tensor context = backend.textEncoder().encode(tokenizer.tokenize(PROMPT).inputIds());
        int side = backend.denoiser().description().sampleSize();
        Tensor latent = TorchGaussianNoise.randn(SEED, 1, backend.denoiser().description().inChannels(), side, side);
        double[] seconds = new double[BATCHES.length];
        for (int i = 0; i < BATCHES.length; i++) {
            int batch = BATCHES[i];
            Tensor latents = repeat(latent, batch);
            Tensor contexts = stack(context, batch);
            Measured step = timed(label + "UNet step, batch " + batch, () -> backend.denoiser()
                    .denoise(latents, TIMESTEP, contexts, null).noisePrediction());
            requireFinite((Tensor) step.value, "the batch-" + batch + " noise prediction");
            seconds[i] = step.seconds;
        }
        return seconds;
    }

    private void printPhases(Path folder, Precision precision) {
        System.out.println();
        System.out.printf(Locale.ROOT, "## Phases: %s, %s, %d threads available%n%n", folder.getFileName(),
                precision.label(), Runtime.getRuntime().availableProcessors());
        System.out.println("| phase | seconds | peak RSS (MB) | above RSS before (MB) |");
        System.out.println("|---|---:|---:|---:|");
        for (String[] row : rows) {
            System.out.println("| " + String.join(" | ", row) + " |");
        }
    }

    /**
     * The request at {@code steps}; a schedule too short for the default ITO window (under 5 steps) optimises tau's
     * step alone, as {@code --ito-steps} would, so that the short real run has an ITO step to measure.
     */
    private static SuppressionRequest request(Mode mode, boolean suppressedOnly, int steps) {
        SuppressionRequest.Builder builder = SuppressionRequest.builder(PROMPT).suppress(SUPPRESS).seed(SEED)
                .steps(steps).mode(mode).suppressedOnly(suppressedOnly);
        int first = builder.itoIterations(0).build().erasureStartStep();
        builder.itoIterations(SuppressionRequest.builder(PROMPT).suppress(SUPPRESS).build().ito().iterations());
        try {
            return builder.build();
        } catch (IllegalArgumentException e) {
            if (!e.getMessage().startsWith("The ITO window")) {
                throw e;
            }
            return builder.itoSteps(first, first).build();
        }
    }

    /** The UNet work of the request on the fixture model (the schedule's counts; the fixture runs in seconds). */
    private static UNetWork fixtureWork(Mode mode, boolean suppressedOnly, int steps) {
        try (Suppressor suppressor = Suppressor.builder().modelFolder(Fixtures.tinyModel()).backend("djl").build()) {
            return suppressor.generate(request(mode, suppressedOnly, steps)).work();
        }
    }

    private static int sampleSize(Path folder) {
        try {
            String config = Files.readString(folder.resolve("unet/config.json"));
            java.util.regex.Matcher matcher = java.util.regex.Pattern.compile("\"sample_size\"\\s*:\\s*(\\d+)")
                    .matcher(config);
            return matcher.find() ? Integer.parseInt(matcher.group(1)) : -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A value and what producing it cost. */
    private record Measured(Object value, double seconds) {
    }

    /** One warm-up call, then the timed one. */
    private Measured timed(String phase, Supplier<Object> work) {
        work.get();
        return measure(phase, work);
    }

    private Measured measure(String phase, Supplier<Object> work) {
        resetPeak();
        long before = status("VmRSS");
        long started = System.nanoTime();
        Object value = work.get();
        double seconds = (System.nanoTime() - started) / 1e9;
        long peak = status("VmHWM");
        rows.add(new String[] {phase, String.format(Locale.ROOT, "%.2f", seconds),
                String.format(Locale.ROOT, "%d", peak / 1024),
                String.format(Locale.ROOT, "%d", (peak - before) / 1024)});
        System.err.printf(Locale.ROOT, "%s: %.2f s, peak RSS %d MB%n", phase, seconds, peak / 1024);
        return new Measured(value, seconds);
    }

    private static Tensor repeat(Tensor latent, int batch) {
        Tensor[] parts = new Tensor[batch];
        Arrays.fill(parts, latent);
        return Tensor.concat(parts);
    }

    private static Tensor stack(Tensor context, int batch) {
        Tensor[] parts = new Tensor[batch];
        Arrays.fill(parts, context);
        return Tensor.stack(parts);
    }

    private static double sumOfSquares(Tensor tensor) {
        double sum = 0;
        for (int i = 0; i < tensor.size(); i++) {
            sum += (double) tensor.get(i) * tensor.get(i);
        }
        return sum;
    }

    private static void requireFinite(Tensor tensor, String what) {
        for (int i = 0; i < tensor.size(); i++) {
            if (!Float.isFinite(tensor.get(i))) {
                throw new IllegalStateException(what + " has a non-finite element at " + i + ": " + tensor.get(i));
            }
        }
    }

    /** Resets VmHWM to the current resident size (Linux: clear_refs 5). */
    private static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot reset the peak resident size through /proc/self/clear_refs", e);
        }
    }

    /** A {@code /proc/self/status} field in kB, -1 when absent. */
    private static long status(String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(field + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
            return -1;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
