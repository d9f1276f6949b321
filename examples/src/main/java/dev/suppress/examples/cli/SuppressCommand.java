package dev.suppress.examples.cli;

import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.inversion.SavedInversion;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalDouble;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

/**
 * What every subcommand shares: the model and request options, the output files, progress on standard error and a
 * summary on standard output.
 *
 * <p>A subcommand reads and checks its own inputs in {@link #prepare()}, before any model is loaded, so that bad
 * input fails at once; this class then loads the model, runs the returned {@link Job} and writes the results. To add
 * one (the real-image {@code edit}): extend this class, annotate it with {@code @Command(name = "edit", ...)},
 * implement {@link #prepare()}, and list it in {@link SuppressCli}'s {@code subcommands}.
 */
abstract class SuppressCommand implements Callable<Integer> {

    private static final String REAL_MODEL_HINT = "For real images pass --model with the folder of a Stable "
            + "Diffusion 1.5 or 2.1 download in the diffusers layout (or an ONNX export with --backend onnx).";

    @Spec
    CommandSpec spec;

    @Mixin
    RequestOptions requestOptions;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "out",
            description = "Folder for the images (default: out).")
    Path out;

    @Option(names = "--save-latents", paramLabel = "FILE",
            description = "Also write the final latents as safetensors, tensors 'original' and 'suppressed'; for "
                    + "edit also the inversion ('inverted', 'unconditional.<step>'), reusable with "
                    + "--inversion-file.")
    Path saveLatents;

    @Option(names = "--verbose", description = "Print the stack trace of an error.")
    boolean verbose;

    /** The work of a subcommand on a loaded model. */
    @FunctionalInterface
    interface Job {
        /** Runs on {@code suppressor}, telling {@code listener} of every step. */
        Outcome run(Suppressor suppressor, ProgressListener listener);
    }

    /**
     * What a subcommand produced.
     *
     * @param result  the two branches (for the latents, the heat maps and the summary)
     * @param images  the images to write, by file name, the side-by-side first
     * @param caption   what the side-by-side shows, e.g. "original | suppressed"
     * @param inversion the inversion an edit used, written beside the latents; {@code null} for a generation
     * @param notes     lines for the summary after the UNet work
     */
    record Outcome(SuppressionResult result, java.util.LinkedHashMap<String, java.awt.image.BufferedImage> images,
                   String caption, SavedInversion inversion, List<String> notes) {

        Outcome {
            notes = List.copyOf(notes);
        }

        /** A generation's outcome. */
        Outcome(SuppressionResult result, java.util.LinkedHashMap<String, java.awt.image.BufferedImage> images,
                String caption) {
            this(result, images, caption, null, List.of());
        }
    }

    /**
     * Reads and checks the subcommand's inputs.
     *
     * @throws IllegalArgumentException naming the bad input
     */
    abstract Job prepare();

    /**
     * What the model would do silently with the prepared request (a prompt over 77 tokens is truncated), one line
     * each; the CLI prints them as {@code warning: ...} before the run. Called after {@link #prepare()}.
     */
    List<String> warnings(Suppressor suppressor) {
        return List.of();
    }

    /** Whether {@code --verbose} was given. */
    boolean verbose() {
        return verbose;
    }

    @Override
    public Integer call() {
        long started = System.nanoTime();
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter stderr = spec.commandLine().getErr();
        Job job = prepare();
        // before the model runs for minutes: an output folder that cannot be created fails now
        createFolder(out);
        if (saveLatents != null) {
            createFolder(saveLatents.toAbsolutePath().getParent());
        }
        Path folder = modelOptions.modelFolder();
        if (modelOptions.usesDefaultModel()) {
            stderr.println("No --model given: using the built-in tiny model in " + folder + ".");
            stderr.println("Its weights are RANDOM, so both images will be noise: it only shows that everything "
                    + "runs.");
            stderr.println(REAL_MODEL_HINT);
            stderr.flush();
        }
        if (modelOptions.singleFileSummary != null) {
            stderr.println("single file: " + modelOptions.singleFileSummary);
            stderr.flush();
        }
        long loadStarted = System.nanoTime();
        Outcome outcome;
        ConsoleProgress progress;
        String backend;
        Precision precision;
        long runStarted;
        Precision requested = modelOptions.precisionFor(requestOptions.mode);
        try (Suppressor suppressor = modelOptions.open(folder, requestOptions.mode)) {
            backend = suppressor.backendName();
            precision = suppressor.precision();
            runStarted = System.nanoTime();
            stderr.printf(Locale.ROOT, "loaded %s (%s on %s) in %.1f s%n", folder, backend, modelOptions.device,
                    ConsoleProgress.seconds(runStarted - loadStarted));
            stderr.println("precision: " + precision.label() + (modelOptions.precision == Precision.AUTO
                    ? " (auto)" : ""));
            if (requested != Precision.AUTO && requested != precision) {
                stderr.println("warning: the " + backend + " backend computes in " + precision.label()
                        + "; --precision " + requested.label() + " was not applied");
            }
            if (requestOptions.mode == Mode.REFERENCE && precision != Precision.FP32) {
                stderr.println("warning: --mode reference in " + precision.label() + " will not reproduce the "
                        + "reference implementation's numbers, which are float32");
            }
            for (String warning : warnings(suppressor)) {
                stderr.println("warning: " + warning);
            }
            stderr.flush();
            progress = new ConsoleProgress(stderr);
            outcome = job.run(suppressor, progress);
        }
        SuppressionResult result = outcome.result();
        long writeStarted = System.nanoTime();
        List<Path> images = OutputFiles.writeImages(outcome, out);
        if (saveLatents != null) {
            OutputFiles.writeLatents(result, outcome.inversion(), saveLatents);
        }
        long finished = System.nanoTime();

        printSummary(stdout, outcome, images, folder, backend);
        stdout.println("precision: " + precision.label());
        OptionalLong peak = peakResidentMegabytes();
        stdout.println("peak-rss-mb: " + (peak.isPresent() ? Long.toString(peak.getAsLong()) : "unknown"));
        OptionalDouble perStep = progress.medianPlainStepSeconds();
        stdout.println("seconds-per-step: " + (perStep.isPresent()
                ? String.format(Locale.ROOT, "%.2f", perStep.getAsDouble()) : "n/a (every step optimised)"));
        if (modelOptions.singleFileSummary != null) {
            stdout.println("single file: " + modelOptions.singleFileSummary);
        }
        stdout.printf(Locale.ROOT, "wall time: %.1f s (model loading %.1f s, run %.1f s, files %.1f s)%n",
                ConsoleProgress.seconds(finished - started), ConsoleProgress.seconds(runStarted - loadStarted),
                ConsoleProgress.seconds(writeStarted - runStarted), ConsoleProgress.seconds(finished - writeStarted));
        stdout.println("ito-final-losses: " + itoFinalLosses(result));
        if (!result.itoSteps().isEmpty()) {
            stdout.println("ito-steps: " + itoSteps(result));
        }
        for (SuppressionResult.ItoAudit audit : result.itoAudits()) {
            stdout.println("ito-audit: step=" + audit.stepIndex() + " fast=" + audit.fastLoss() + " reference="
                    + audit.referenceLoss());
        }
        stdout.flush();
        return 0;
    }

    /** Where the files went, what was suppressed, which model ran and the UNet work. */
    private void printSummary(PrintWriter stdout, Outcome outcome, List<Path> images, Path folder,
                              String backend) {
        SuppressionResult result = outcome.result();
        List<String> others = new ArrayList<>();
        for (Path image : images.subList(1, images.size() - 1)) {
            others.add(image.toAbsolutePath().toString());
        }
        stdout.println("images: " + images.get(0).toAbsolutePath() + " (" + outcome.caption() + ")"
                + (others.isEmpty() ? "" : ", " + String.join(", ", others)));
        int mapWidth = result.attention().width();
        int mapHeight = result.attention().height();
        stdout.printf(Locale.ROOT, "cross-attention: %s (%dx%d%s maps per prompt token; top row original, bottom row "
                        + "suppressed; %s marks a suppressed token)%n", images.get(images.size() - 1).toAbsolutePath(),
                mapWidth, mapHeight, mapWidth == mapHeight ? "" : " (width x height)", OutputFiles.SUPPRESSED_MARK);
        if (saveLatents != null) {
            stdout.println("latents: " + saveLatents.toAbsolutePath() + (result.hasOriginal()
                    ? " (tensors 'original' and 'suppressed'" : " (tensor 'suppressed'")
                    + (outcome.inversion() == null ? ")" : ", and the inversion: 'inverted' and "
                    + outcome.inversion().unconditionals().size() + " 'unconditional.<step>', for --inversion-file)"));
        }
        stdout.println("suppressed tokens: " + describeTokens(result));
        stdout.println("model: " + folder.toAbsolutePath() + " (" + backend + " on " + modelOptions.device + ")");
        if (modelOptions.usesDefaultModel()) {
            stdout.println("note: the built-in model has RANDOM weights, so the images are noise. " + REAL_MODEL_HINT);
        }
        stdout.println("unet: " + result.work());
        stdout.printf(Locale.ROOT, "unet-work: %.1f%n", result.work().forwardEquivalents());
        for (String note : outcome.notes()) {
            stdout.println(note);
        }
        SuppressionResult.PhaseTimes phases = result.phases();
        // a generated image has no inversion phase: print it only where it ran
        String inversion = phases.inversion().isZero() ? ""
                : String.format(Locale.ROOT, "inversion %.1f s, ", seconds(phases.inversion()));
        stdout.printf(Locale.ROOT, "phases: text encoding %.1f s, %sdenoising %.1f s, ito %.1f s, decoding %.1f s%n",
                seconds(phases.textEncoding()), inversion, seconds(phases.denoising()), seconds(phases.ito()),
                seconds(phases.decoding()));
    }

    private static double seconds(java.time.Duration duration) {
        return duration.toNanos() / 1e9;
    }

    private static void createFolder(Path folder) {
        try {
            Files.createDirectories(folder);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create the output folder " + folder, e);
        }
    }

    private static String describeTokens(SuppressionResult result) {
        List<String> described = new ArrayList<>();
        for (int index : result.suppressedTokens()) {
            described.add(index + " '" + result.attention().tokens().get(index - 1).strip() + "'");
        }
        return String.join(", ", described);
    }

    /** The optimised steps, comma-separated. */
    static String itoSteps(SuppressionResult result) {
        List<String> steps = new ArrayList<>();
        for (SuppressionResult.ItoStep step : result.itoSteps()) {
            steps.add(Integer.toString(step.stepIndex()));
        }
        return String.join(",", steps);
    }

    /** The loss before the last update of each optimised step, comma-separated (empty without ITO). */
    static String itoFinalLosses(SuppressionResult result) {
        List<String> losses = new ArrayList<>();
        for (SuppressionResult.ItoStep step : result.itoSteps()) {
            losses.add(Double.toString(step.lastLoss()));
        }
        return String.join(",", losses);
    }

    /** The process's peak resident set ({@code VmHWM} of {@code /proc/self/status}) in MB, where Linux tells it. */
    static OptionalLong peakResidentMegabytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String kilobytes = line.substring("VmHWM:".length()).replace("kB", "").trim();
                    return OptionalLong.of(Long.parseLong(kilobytes) / 1024);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux, or no procfs: unknown
        }
        return OptionalLong.empty();
    }
}
