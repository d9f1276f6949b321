package dev.suppress.benchmarks;

import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.UNetWork;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Fast mode against reference mode in one JVM: the same suppressed image generated in {@link Mode#REFERENCE} and in
 * {@link Mode#FAST} with {@code suppressedOnly}, for one or more seeds, after one throwaway fast generation that
 * warms up the JIT and libtorch. Prints, per seed, the UNet work in forward-equivalents and its ratio, the wall
 * times and their ratio, the phases, the last ITO loss of every optimised step side by side with the issue's
 * criterion (fast last loss ≤ reference last loss + 5% of the largest reference loss magnitude), and how far the
 * suppressed latents and 8-bit images differ; then a summary over the seeds.
 *
 * <p>Run with {@code benchmarks/run-comparison.sh}, or {@code java -cp benchmarks/target/benchmarks.jar
 * dev.suppress.benchmarks.FastVsReference --help}.
 */
@Command(name = "fast-vs-reference", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generates the same suppressed image in reference mode and in fast mode and compares work, "
                + "wall time, ITO losses and results.")
public final class FastVsReference implements Callable<Integer> {

    /** The slack: fast mode's last loss of a step may exceed reference mode's by 5% of the largest |loss|. */
    static final double LOSS_SLACK = 0.05;

    @Option(names = "--model", paramLabel = "DIR",
            description = "A diffusers Stable Diffusion folder (default: the fixtures' tiny-sd).")
    Path model;

    @Option(names = "--prompt", description = "The prompt (default: ${DEFAULT-VALUE}).")
    String prompt = "a man without glasses";

    @Option(names = "--suppress", split = ",", paramLabel = "WORD",
            description = "Words of the prompt to suppress (default: glasses).")
    List<String> suppress = new ArrayList<>(List.of("glasses"));

    @Option(names = "--seed", description = "The seed, when --seeds is not given (default: ${DEFAULT-VALUE}).")
    long seed = 2023;

    @Option(names = "--seeds", split = ",", paramLabel = "SEED", description = "Several seeds, e.g. 2023,7,11,42.")
    List<Long> seeds;

    @Option(names = "--steps", description = "DDIM steps (default: ${DEFAULT-VALUE}).")
    int steps = 50;

    private final PrintStream out = System.out;

    /** Runs the comparison; exit code 0, or 1 when a fast step misses the loss criterion. */
    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(new CommandLine(new FastVsReference()).execute(args));
    }

    @Override
    public Integer call() {
        Path folder = model != null ? model : Fixtures.tinyModel();
        List<Long> runSeeds = seeds != null && !seeds.isEmpty() ? seeds : List.of(seed);
        out.printf(Locale.ROOT, "model %s, prompt \"%s\", suppress %s, %d steps, seeds %s%n", folder, prompt,
                suppress, steps, runSeeds);
        out.printf(Locale.ROOT, "machine: %d processors, load average %s; ai.djl.pytorch.num_threads=%s%n",
                Runtime.getRuntime().availableProcessors(), Machine.loadAverage(),
                System.getProperty("ai.djl.pytorch.num_threads", "(libtorch default)"));
        long loadStart = System.nanoTime();
        List<Comparison> comparisons = new ArrayList<>();
        try (Suppressor suppressor = Suppressor.builder().backend("djl").modelFolder(folder).build()) {
            out.printf(Locale.ROOT, "model loaded in %.1f s%n", seconds(System.nanoTime() - loadStart));
            SuppressionResult warmUp = suppressor.generate(request(runSeeds.get(0), Mode.FAST));
            out.printf(Locale.ROOT, "warm-up: one fast generation, %.1f s (not counted)%n",
                    seconds(warmUp.elapsed()));
            for (long runSeed : runSeeds) {
                SuppressionResult reference = suppressor.generate(request(runSeed, Mode.REFERENCE));
                SuppressionResult fast = suppressor.generate(request(runSeed, Mode.FAST));
                Comparison comparison = new Comparison(runSeed, reference, fast);
                comparison.print(out);
                comparisons.add(comparison);
            }
        }
        printSummary(comparisons);
        out.printf(Locale.ROOT, "load average at the end: %s%n", Machine.loadAverage());
        return comparisons.stream().allMatch(Comparison::allWithinSlack) ? 0 : 1;
    }

    private SuppressionRequest request(long requestSeed, Mode mode) {
        SuppressionRequest.Builder builder = SuppressionRequest.builder(prompt)
                .suppress(suppress.toArray(String[]::new))
                .seed(requestSeed)
                .steps(steps)
                .mode(mode)
                .suppressedOnly(mode == Mode.FAST);
        if (steps != 50) {
            // the reference's ITO window, steps 10 .. 19 of 50, scaled to the shorter schedule
            builder.maxItoStep(Math.round(steps * 20 / 50f));
        }
        return builder.build();
    }

    private void printSummary(List<Comparison> comparisons) {
        out.println();
        out.println("summary (ratios are fast / reference, measured in this run)");
        out.println("    seed  work ref  work fast  work ratio  wall ref s  wall fast s  wall ratio  steps within 5%"
                + "  worst margin  latent max|d|  image max|d| (levels)");
        double workRatios = 0;
        double wallRatios = 0;
        for (Comparison c : comparisons) {
            out.printf(Locale.ROOT, "%8d  %8.1f  %9.1f  %10.3f  %10.1f  %11.1f  %10.3f  %9d / %-3d  %12.4f  %13.4g  %12d%n",
                    c.seed, c.reference.work().forwardEquivalents(), c.fast.work().forwardEquivalents(),
                    c.workRatio(), seconds(c.reference.elapsed()), seconds(c.fast.elapsed()), c.wallRatio(),
                    c.stepsWithinSlack(), c.reference.itoSteps().size(), c.worstMargin(), c.latentDifference(),
                    c.imageDifference().max());
            workRatios += c.workRatio();
            wallRatios += c.wallRatio();
        }
        out.printf(Locale.ROOT, "mean work ratio %.3f, mean wall-time ratio %.3f over %d seeds; every step within "
                        + "the 5%% criterion: %s%n", workRatios / comparisons.size(), wallRatios / comparisons.size(),
                comparisons.size(), comparisons.stream().allMatch(Comparison::allWithinSlack));
        out.println("(worst margin: the largest fast last loss minus its allowed bound; negative = within)");
    }

    static double seconds(Duration duration) {
        return duration.toNanos() / 1e9;
    }

    static double seconds(long nanos) {
        return nanos / 1e9;
    }

    /** One seed's pair of runs. */
    private record Comparison(long seed, SuppressionResult reference, SuppressionResult fast) {

        double workRatio() {
            return fast.work().forwardEquivalents() / reference.work().forwardEquivalents();
        }

        double wallRatio() {
            return seconds(fast.elapsed()) / seconds(reference.elapsed());
        }

        /** The largest |loss| of any reference ITO iterate. */
        double largestReferenceLoss() {
            double largest = 0;
            for (SuppressionResult.ItoStep step : reference.itoSteps()) {
                for (double loss : step.losses()) {
                    largest = Math.max(largest, Math.abs(loss));
                }
            }
            return largest;
        }

        double allowed(int k) {
            return reference.itoSteps().get(k).lastLoss() + LOSS_SLACK * largestReferenceLoss();
        }

        /** The fast last loss minus its bound, worst over the steps (at most 0 when every step meets it). */
        double worstMargin() {
            double worst = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < comparedSteps(); k++) {
                worst = Math.max(worst, fast.itoSteps().get(k).lastLoss() - allowed(k));
            }
            return worst;
        }

        int comparedSteps() {
            return Math.min(reference.itoSteps().size(), fast.itoSteps().size());
        }

        int stepsWithinSlack() {
            int within = 0;
            for (int k = 0; k < comparedSteps(); k++) {
                if (fast.itoSteps().get(k).lastLoss() <= allowed(k)) {
                    within++;
                }
            }
            return within;
        }

        boolean allWithinSlack() {
            return reference.itoSteps().size() == fast.itoSteps().size()
                    && stepsWithinSlack() == reference.itoSteps().size();
        }

        double latentDifference() {
            float[] a = reference.suppressedLatent().toArray();
            float[] b = fast.suppressedLatent().toArray();
            double max = 0;
            for (int i = 0; i < a.length; i++) {
                max = Math.max(max, Math.abs(a[i] - b[i]));
            }
            return max;
        }

        ImageDifference imageDifference() {
            return ImageDifference.of(reference.suppressed(), fast.suppressed());
        }

        void print(PrintStream out) {
            UNetWork referenceWork = reference.work();
            UNetWork fastWork = fast.work();
            out.println();
            out.printf(Locale.ROOT, "seed %d%n", seed);
            out.printf(Locale.ROOT, "  work: reference %.1f, fast %.1f forward-equivalents; ratio %.3f%n",
                    referenceWork.forwardEquivalents(), fastWork.forwardEquivalents(), workRatio());
            out.printf(Locale.ROOT, "        reference %s%n        fast      %s%n", referenceWork, fastWork);
            out.printf(Locale.ROOT, "  wall time: reference %.2f s, fast %.2f s; ratio %.3f%n",
                    seconds(reference.elapsed()), seconds(fast.elapsed()), wallRatio());
            out.println("  phases (s)       reference      fast");
            phase(out, "text encoding", reference.phases().textEncoding(), fast.phases().textEncoding());
            phase(out, "denoising", reference.phases().denoising(), fast.phases().denoising());
            phase(out, "ito", reference.phases().ito(), fast.phases().ito());
            phase(out, "decoding", reference.phases().decoding(), fast.phases().decoding());
            double largest = largestReferenceLoss();
            out.printf(Locale.ROOT, "  ITO last losses (largest |reference loss| %.4f; allowed = reference + %.4f)%n",
                    largest, LOSS_SLACK * largest);
            out.println("    step   reference        fast     allowed  within");
            for (int k = 0; k < comparedSteps(); k++) {
                SuppressionResult.ItoStep referenceStep = reference.itoSteps().get(k);
                double fastLoss = fast.itoSteps().get(k).lastLoss();
                out.printf(Locale.ROOT, "    %4d  %10.4f  %10.4f  %10.4f  %s%n", referenceStep.stepIndex(),
                        referenceStep.lastLoss(), fastLoss, allowed(k), fastLoss <= allowed(k) ? "yes" : "NO");
            }
            if (reference.itoSteps().size() != fast.itoSteps().size()) {
                out.printf(Locale.ROOT, "    (reference optimised %d steps, fast %d)%n", reference.itoSteps().size(),
                        fast.itoSteps().size());
            }
            out.printf(Locale.ROOT, "  within 5%%: %d of %d steps%n", stepsWithinSlack(),
                    reference.itoSteps().size());
            ImageDifference image = imageDifference();
            out.printf(Locale.ROOT, "  suppressed latents: max |diff| %.4g (reference latent max |value| %.3g)%n",
                    latentDifference(), maxAbs(reference.suppressedLatent().toArray()));
            out.printf(Locale.ROOT, "  suppressed images (8-bit): max |diff| %d levels, mean %.2f levels, %.1f%% of "
                    + "channel values differ%n", image.max(), image.mean(), 100 * image.differingShare());
        }

        private static void phase(PrintStream out, String name, Duration reference, Duration fast) {
            out.printf(Locale.ROOT, "    %-14s %9.2f %9.2f%n", name, seconds(reference), seconds(fast));
        }

        private static double maxAbs(float[] values) {
            double max = 0;
            for (float value : values) {
                max = Math.max(max, Math.abs(value));
            }
            return max;
        }
    }
}
