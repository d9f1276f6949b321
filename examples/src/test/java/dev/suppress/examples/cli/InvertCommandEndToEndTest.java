package dev.suppress.examples.cli;

import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress invert}, then {@code edit --inversion-file}, on the fixture photo and the fixture model. */
class InvertCommandEndToEndTest {

    private static final String PROMPT = "a red house with a tree under the sun";
    private static final String[] IMAGES = {EditCommand.SIDE_BY_SIDE, "reconstruction.png", "suppressed.png",
            "vae-reconstruction.png", OutputFiles.CROSS_ATTENTION};

    @TempDir
    Path dir;

    /** The options invert and edit share: four steps of negative-prompt inversion, unless {@code steps} differ. */
    private static List<String> common(String steps) {
        return List.of("--model", Fixtures.tinyModel().toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", PROMPT, "--inversion", "npi",
                "--steps", steps);
    }

    private static CliRun edit(Path out, String... more) {
        return edit("4", out, more);
    }

    private static CliRun edit(String steps, Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("edit", "--suppress", "tree", "--ito-iterations", "1",
                "--out", out.toString()));
        args.addAll(common(steps));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    private static byte[] bytes(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Test
    void anEditFromASavedInversionWritesTheSameImagesWithoutTheInversionsWork() {
        Path latents = dir.resolve("latents.safetensors");
        CliRun plain = edit(dir.resolve("plain"), "--save-latents", latents.toString());
        assertEquals(0, plain.exitCode(), plain.transcript());
        assertTrue(plain.out().contains("for --inversion-file"), plain.transcript());

        Path inversion = dir.resolve("photo.inversion.safetensors");
        List<String> invertArgs = new ArrayList<>(List.of("invert", "--out", inversion.toString()));
        invertArgs.addAll(common("4"));
        CliRun invert = CliRun.of(invertArgs.toArray(String[]::new));
        assertEquals(0, invert.exitCode(), invert.transcript());
        assertTrue(invert.err().contains("inversion 4/4"), invert.transcript());
        assertTrue(invert.out().contains("NEGATIVE_PROMPT, tensors 'inverted' and 1 'unconditional.<step>'"),
                invert.transcript());

        CliRun fromInvert = edit(dir.resolve("from-invert"), "--inversion-file", inversion.toString());
        assertEquals(0, fromInvert.exitCode(), fromInvert.transcript());
        CliRun fromLatents = edit(dir.resolve("from-latents"), "--inversion-file", latents.toString());
        assertEquals(0, fromLatents.exitCode(), fromLatents.transcript());
        for (String image : IMAGES) {
            byte[] expected = bytes(dir.resolve("plain").resolve(image));
            assertArrayEquals(expected, bytes(dir.resolve("from-invert").resolve(image)), image + " from invert");
            assertArrayEquals(expected, bytes(dir.resolve("from-latents").resolve(image)), image + " from latents");
        }
        assertFalse(fromInvert.err().contains("inversion 1/4"), fromInvert.transcript());
        assertTrue(fromInvert.out().contains("inversion: reused"), fromInvert.transcript());
        // plain: 4 inversion passes + 4 steps x 4 + 1 ITO reference pass (fast mode shares the steps before tau)
        long plainPasses = noisePredictions(plain);
        assertEquals(plainPasses - 4, noisePredictions(fromInvert), fromInvert.transcript());
        assertEquals(plainPasses - 4, noisePredictions(fromLatents), fromLatents.transcript());
    }

    /** The noise predictions of the {@code unet:} summary line. */
    private static long noisePredictions(CliRun run) {
        String line = run.out().lines().filter(text -> text.startsWith("unet: ")).findFirst().orElseThrow();
        String count = line.substring(line.indexOf('(') + 1, line.indexOf(" noise predictions"));
        return Long.parseLong(count);
    }

    @Test
    void aFileMadeForOtherStepsIsOneLineNamingTheField() {
        Path inversion = dir.resolve("photo.inversion.safetensors");
        List<String> invertArgs = new ArrayList<>(List.of("invert", "--out", inversion.toString()));
        invertArgs.addAll(common("4"));
        CliRun invert = CliRun.of(invertArgs.toArray(String[]::new));
        assertEquals(0, invert.exitCode(), invert.transcript());

        CliRun mismatch = edit("5", dir.resolve("mismatch"), "--inversion-file", inversion.toString());
        assertEquals(SuppressCli.BAD_INPUT, mismatch.exitCode(), mismatch.transcript());
        List<String> errors = mismatch.err().lines().filter(line -> line.startsWith("error: ")).toList();
        assertEquals(List.of("error: The inversion file " + inversion + " was made with steps 4, this edit asks for "
                + "5"), errors, mismatch.transcript());
        assertFalse(mismatch.err().contains("\tat "), mismatch.transcript());

        CliRun notAnInversion = edit(dir.resolve("plain"), "--inversion-file",
                Fixtures.path("real/real_NPI.safetensors").toString());
        assertEquals(SuppressCli.BAD_INPUT, notAnInversion.exitCode(), notAnInversion.transcript());
        assertTrue(notAnInversion.err().contains("not an inversion file"), notAnInversion.transcript());
    }
}
