package dev.suppress.examples.cli;

import dev.suppress.core.image.Images;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress generate} run in-process on the built-in model and on the fixture model. */
class GenerateCommandEndToEndTest {

    /**
     * Final latents of the reference's 50-step SWR-only run: float32 kernels of another libtorch build drift through
     * 100 UNet passes per branch (measured 9.5e-5 here; 3e-4 in the DJL module's run with ITO).
     */
    private static final Tolerance FINAL_LATENTS = new Tolerance(0, 1e-3,
            "50 guided DDIM steps amplify float32 kernel differences between libtorch builds");

    @TempDir
    Path dir;

    @Test
    void theBuiltInModelWritesEveryFile() {
        Path out = dir.resolve("out");
        Path latents = dir.resolve("latents/final.safetensors");
        CliRun run = CliRun.of("generate", "--prompt", "a man without glasses", "--suppress", "glasses",
                "--cache-dir", dir.resolve("cache").toString(), "--out", out.toString(),
                "--save-latents", latents.toString(),
                "--steps", "4", "--ito-iterations", "1", "--max-ito-step", "3", "--tau", "0.5", "--mode", "reference");
        assertEquals(0, run.exitCode(), run.transcript());

        for (String name : new String[] {OutputFiles.SIDE_BY_SIDE, OutputFiles.ORIGINAL, OutputFiles.SUPPRESSED}) {
            BufferedImage image = Images.read(out.resolve(name));
            assertEquals(256, image.getHeight(), name);
        }
        // 4 prompt tokens ("a", "man", "without", "glasses") in two rows of labelled 128-pixel maps
        BufferedImage heatMaps = Images.read(out.resolve(OutputFiles.CROSS_ATTENTION));
        assertTrue(heatMaps.getWidth() >= 4 * OutputFiles.HEAT_MAP_SIZE
                && heatMaps.getWidth() < 5 * OutputFiles.HEAT_MAP_SIZE, "width " + heatMaps.getWidth());
        assertTrue(heatMaps.getHeight() > 2 * OutputFiles.HEAT_MAP_SIZE
                && heatMaps.getHeight() < 3 * OutputFiles.HEAT_MAP_SIZE, "height " + heatMaps.getHeight());

        try (SafetensorsFile file = SafetensorsFile.open(latents)) {
            assertEquals(Set.of("original", "suppressed"), file.names());
            assertArrayEquals(new int[] {1, 4, 32, 32}, file.tensor("original").shape());
            assertArrayEquals(new int[] {1, 4, 32, 32}, file.tensor("suppressed").shape());
        }

        assertTrue(run.err().contains("RANDOM") && run.out().contains("RANDOM"),
                "says the built-in model is random: " + run.transcript());
        assertTrue(run.err().contains("step 4/4"), run.transcript());
        assertTrue(run.out().contains(out.resolve(OutputFiles.SIDE_BY_SIDE).toAbsolutePath().toString()),
                run.transcript());
        assertEquals("fp32", line(run.out(), "precision: "), run.transcript());
        // the in-process CLI shares the test JVM, so its peak is at least the loaded model's
        assertTrue(Long.parseLong(line(run.out(), "peak-rss-mb: ")) > 10, run.transcript());
        // steps 1, 3 and 4 ran without ITO: their median wall time
        assertTrue(Double.parseDouble(line(run.out(), "seconds-per-step: ")) > 0, run.transcript());
        // ITO at step 2 only (steps ceil(0.5 * 4) = 2 .. 2), one iteration
        String losses = line(run.out(), "ito-final-losses: ");
        assertEquals(1, losses.split(",").length, run.transcript());
        assertTrue(Double.isFinite(Double.parseDouble(losses)), run.transcript());
        assertTrue(line(run.out(), "unet: ").contains(" 18 UNet evaluations"), run.transcript());
        assertTrue(Double.parseDouble(line(run.out(), "unet-work: ")) >= 16, run.transcript());
    }

    @Test
    void fastModeSuppressedOnlyWritesTheSuppressedImageAndItsWork() {
        Path out = dir.resolve("fast");
        Path latents = dir.resolve("fast.safetensors");
        CliRun run = CliRun.of("generate", "--model", Fixtures.tinyModel().toString(), "--prompt",
                "a man without glasses", "--suppress", "glasses", "--seed", "2023", "--steps", "10",
                "--max-ito-step", "4", "--mode", "fast", "--suppressed-only", "--out", out.toString(),
                "--save-latents", latents.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(out.resolve(OutputFiles.SUPPRESSED).toFile().isFile(), run.transcript());
        assertTrue(!out.resolve(OutputFiles.ORIGINAL).toFile().exists(), run.transcript());
        try (SafetensorsFile file = SafetensorsFile.open(latents)) {
            assertEquals(Set.of("suppressed"), file.names());
        }
        // steps 2 and 3 optimised; the loss of each step's best iterate
        assertEquals(2, line(run.out(), "ito-final-losses: ").split(",").length, run.transcript());
        double work = Double.parseDouble(line(run.out(), "unet-work: "));
        // below reference mode's forward passes alone for this request (2 branches x 2 passes x 10 steps, 2 reference
        // passes, 20 probes' forward halves); DjlFastModeTest checks the ratio to reference mode's measured work
        assertTrue(work > 0 && work < 2 * 2 * 10 + 2 + 20, run.transcript());
        assertTrue(run.out().contains("phases: "), run.transcript());
    }

    @Test
    void theFixtureModelReproducesTheReferencesSwrOnlyRun() {
        Path start = dir.resolve("initial.safetensors");
        Path latents = dir.resolve("final.safetensors");
        Tensor expected;
        try (SafetensorsFile golden = Fixtures.open("e2e/gen_swr_only.safetensors")) {
            SafetensorsWriter.write(start, Map.of(GenerateCommand.LATENT_TENSOR, golden.tensor("initial_latent")));
            expected = golden.tensor("final_latents");
        }
        CliRun run = CliRun.of("generate", "--model", Fixtures.tinyModel().toString(),
                "--prompt", "a man without glasses", "--suppress", "glasses", "--initial-latent", start.toString(),
                "--ito-iterations", "0", "--save-latents", latents.toString(), "--out", dir.resolve("out").toString(),
                // a parity test: the reference computed in float32 (auto is bf16 on CPUs with native bf16)
                "--precision", "fp32");
        assertEquals(0, run.exitCode(), run.transcript());
        assertEquals("", line(run.out(), "ito-final-losses:").strip(), run.transcript());

        try (SafetensorsFile file = SafetensorsFile.open(latents)) {
            TensorAssertions.assertClose("final_latents[original]", expected.slice(0).reshape(1, 4, 32, 32),
                    file.tensor("original"), FINAL_LATENTS);
            TensorAssertions.assertClose("final_latents[suppressed]", expected.slice(1).reshape(1, 4, 32, 32),
                    file.tensor("suppressed"), FINAL_LATENTS);
        }
    }

    /** The rest of the line of {@code text} that starts with {@code prefix}. */
    private static String line(String text, String prefix) {
        return Arrays.stream(text.split("\n")).filter(line -> line.startsWith(prefix)).findFirst()
                .map(line -> line.substring(prefix.length()))
                .orElseThrow(() -> new AssertionError("no line starting with '" + prefix + "' in:\n" + text));
    }

    @Test
    void aPromptOverSeventySevenTokensIsTruncatedWithAWarningNamingTheCutWords() {
        Path out = dir.resolve("long");
        String prompt = "a man without glasses" + " and a dog".repeat(26);
        CliRun run = CliRun.of("generate", "--model", Fixtures.tinyModel().toString(), "--prompt", prompt,
                "--suppress", "glasses", "--seed", "2023", "--steps", "10", "--max-ito-step", "4", "--mode", "fast",
                "--suppressed-only", "--out", out.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        String warning = line(run.err(), "warning: The prompt has ");
        // 4 + 78 words, 75 read: the last 7 ("dog and a dog and a dog") are cut
        assertTrue(warning.contains("82 tokens") && warning.contains("removed the last 7")
                && warning.contains("dog and a dog"), run.transcript());
    }

    @Test
    void clipSkipChangesTheImageAndTooDeepASkipIsOneLine() {
        String[] common = {"generate", "--model", Fixtures.tinyModel().toString(), "--prompt", "a man without glasses",
                "--suppress", "glasses", "--seed", "2023", "--steps", "4", "--ito-iterations", "0"};
        CliRun plain = CliRun.of(concat(common, "--out", dir.resolve("plain").toString()));
        CliRun skipped = CliRun.of(concat(common, "--clip-skip", "1", "--out", dir.resolve("skip").toString()));
        assertEquals(0, plain.exitCode(), plain.transcript());
        assertEquals(0, skipped.exitCode(), skipped.transcript());
        assertFalse(Arrays.equals(pixels(Images.read(dir.resolve("plain").resolve(OutputFiles.ORIGINAL))),
                pixels(Images.read(dir.resolve("skip").resolve(OutputFiles.ORIGINAL)))), "clip skip 1 changes it");
        CliRun deep = CliRun.of(concat(common, "--clip-skip", "3", "--out", dir.resolve("deep").toString()));
        assertEquals(SuppressCli.BAD_INPUT, deep.exitCode(), deep.transcript());
        assertTrue(deep.err().contains("clipSkip 3 leaves no layer"), deep.transcript());
    }

    private static String[] concat(String[] a, String... b) {
        String[] all = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    private static int[] pixels(BufferedImage image) {
        return image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
    }
}
