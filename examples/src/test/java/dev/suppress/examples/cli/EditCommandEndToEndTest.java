package dev.suppress.examples.cli;

import dev.suppress.core.image.Images;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress edit} on the fixture photo and the fixture model. */
class EditCommandEndToEndTest {

    private static final String PROMPT = "a red house with a tree under the sun";

    @TempDir
    Path dir;

    @Test
    void editsThePhotoWithNegativePromptInversion() {
        Path out = dir.resolve("out");
        Path latents = dir.resolve("latents.safetensors");
        CliRun run = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", PROMPT, "--suppress", "tree",
                "--inversion", "npi", "--mode", "reference", "--save-latents", latents.toString(),
                "--out", out.toString(), "--steps", "10", "--ito-iterations", "2", "--max-ito-step", "4");
        assertEquals(0, run.exitCode(), run.transcript());
        BufferedImage sideBySide = Images.read(out.resolve(EditCommand.SIDE_BY_SIDE));
        assertEquals(256, sideBySide.getHeight());
        assertTrue(sideBySide.getWidth() > 3 * 256, "three panels: " + sideBySide.getWidth());
        for (String name : new String[] {"input.png", "reconstruction.png", "suppressed.png",
                "vae-reconstruction.png", OutputFiles.CROSS_ATTENTION}) {
            assertTrue(out.resolve(name).toFile().isFile(), name + ": " + run.transcript());
        }
        try (SafetensorsFile file = SafetensorsFile.open(latents)) {
            // the inversion beside the latents, for --inversion-file (negative-prompt inversion: one embedding)
            assertEquals(Set.of("original", "suppressed", "inverted", "unconditional.0"), file.names());
            assertArrayEquals(new int[] {1, 4, 32, 32}, file.tensor("suppressed").shape());
        }
        assertTrue(run.err().contains("inversion 10/10"), run.transcript());
        assertTrue(run.out().contains("input | reconstruction | suppressed"), run.transcript());
        // steps 2 and 3 optimised (tau 0.8 of 10 steps starts at step 2), two iterations each
        assertEquals(2, run.out().lines().filter(line -> line.startsWith("ito-final-losses: ")).findFirst()
                .orElseThrow().substring("ito-final-losses: ".length()).split(",").length, run.transcript());
    }

    @Test
    void editsWithNullTextInversion() {
        CliRun run = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", PROMPT, "--suppress", "tree",
                "--out", dir.resolve("out").toString(), "--steps", "4", "--null-text-steps", "2",
                "--ito-iterations", "1");
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("inversion 4/4  2 inner steps"), run.transcript());
    }

    @Test
    void refusesAMissingPhotoAndANegativePrompt() {
        CliRun missing = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image",
                dir.resolve("nope.png").toString(), "--prompt", PROMPT, "--suppress", "tree");
        assertEquals(SuppressCli.BAD_INPUT, missing.exitCode(), missing.transcript());
        assertTrue(missing.err().contains("nope.png: no such file"), missing.transcript());
        CliRun negative = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", PROMPT, "--suppress", "tree",
                "--negative-prompt", "blurry");
        assertEquals(SuppressCli.BAD_INPUT, negative.exitCode(), negative.transcript());
        assertTrue(negative.err().contains("negative prompt does not apply"), negative.transcript());
    }

    @Test
    void aPromptOverSeventySevenTokensIsTruncatedWithAWarningAsInGenerate() {
        String prompt = PROMPT + " and a dog".repeat(25);
        CliRun run = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", prompt, "--suppress", "tree",
                "--inversion", "npi", "--out", dir.resolve("long").toString(), "--steps", "4",
                "--ito-iterations", "1");
        assertEquals(0, run.exitCode(), run.transcript());
        // 9 + 75 words, 75 read: the last 9 ("and a dog and a dog and a dog") are cut
        String warning = run.err().lines().filter(line -> line.startsWith("warning: The prompt has ")).findFirst()
                .orElseThrow(() -> new AssertionError("no truncation warning in:\n" + run.transcript()));
        assertTrue(warning.contains("84 tokens") && warning.contains("removed the last 9"), run.transcript());
    }
}
