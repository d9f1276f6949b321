package dev.suppress.examples.cli;

import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.image.Images;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --size}, {@code --width} and {@code --height}: parsed, combined, and a non-square run end to end. */
class ImageSizeOptionsTest {

    private static final String PROMPT = "a man without glasses";

    @TempDir
    Path dir;

    @Test
    void widthAndHeightReachTheRequestAndSizeSetsBoth() {
        assertEquals(SuppressionRequest.builder(PROMPT).suppress("glasses").width(256).height(192).build(),
                parse("--prompt", PROMPT, "--suppress", "glasses", "--width", "256", "--height", "192").request());
        assertEquals(SuppressionRequest.builder(PROMPT).suppress("glasses").width(320).build(),
                parse("--prompt", PROMPT, "--suppress", "glasses", "--width", "320").request());
        SuppressionRequest square = parse("--prompt", PROMPT, "--suppress", "glasses", "--size", "256").request();
        assertEquals(256, square.width());
        assertEquals(256, square.height());
    }

    @Test
    void sizeWithWidthOrHeightIsAnErrorNamingTheOptions() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, () -> parse("--prompt", PROMPT,
                "--suppress", "glasses", "--size", "256", "--height", "192").request());
        assertTrue(error.getMessage().contains("--size") && error.getMessage().contains("--width/--height")
                && error.getMessage().contains("--height 192"), error.getMessage());
        CliRun run = CliRun.of("generate", "--prompt", PROMPT, "--suppress", "glasses", "--size", "256", "--width",
                "128", "--out", dir.toString());
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("--size") && run.err().contains("--width 128"), run.transcript());
        CliRun odd = CliRun.of("generate", "--prompt", PROMPT, "--suppress", "glasses", "--width", "250",
                "--height", "192", "--out", dir.toString());
        assertEquals(SuppressCli.BAD_INPUT, odd.exitCode(), odd.transcript());
        assertTrue(odd.err().contains("width must be a multiple of 8"), odd.transcript());
    }

    @Test
    void aNonSquareGenerationWritesPngsOfThatWidthAndHeight() {
        Path out = dir.resolve("out");
        CliRun run = CliRun.of("generate", "--prompt", PROMPT, "--suppress", "glasses",
                "--cache-dir", dir.resolve("cache").toString(), "--out", out.toString(),
                "--width", "256", "--height", "192", "--steps", "2", "--ito-iterations", "0");
        assertEquals(0, run.exitCode(), run.transcript());
        for (String name : new String[] {OutputFiles.ORIGINAL, OutputFiles.SUPPRESSED}) {
            BufferedImage image = Images.read(out.resolve(name));
            assertEquals(256, image.getWidth(), name);
            assertEquals(192, image.getHeight(), name);
        }
        assertEquals(192, Images.read(out.resolve(OutputFiles.SIDE_BY_SIDE)).getHeight());
        // the built-in model's 12x16 maps, 16 wide: heat maps 128 px wide and 96 high, two rows with labels
        BufferedImage heatMaps = Images.read(out.resolve(OutputFiles.CROSS_ATTENTION));
        assertTrue(heatMaps.getHeight() > 2 * 96 && heatMaps.getHeight() < 2 * OutputFiles.HEAT_MAP_SIZE + 96,
                "height " + heatMaps.getHeight());
        assertTrue(run.out().contains("16x12 (width x height) maps"), run.transcript());
    }

    @Test
    void editAndInvertRefuseANonSquareSizeByName() throws Exception {
        Path photo = Fixtures.path("real/input.png");
        CliRun edit = CliRun.of("edit", "--model", Fixtures.tinyModel().toString(), "--image", photo.toString(),
                "--prompt", "a tree", "--suppress", "tree", "--width", "256", "--height", "192",
                "--out", dir.resolve("edit").toString());
        assertEquals(SuppressCli.BAD_INPUT, edit.exitCode(), edit.transcript());
        assertTrue(edit.err().contains("width 256") && edit.err().contains("height 192")
                && edit.err().contains("square"), edit.transcript());
        Path file = dir.resolve("inversion.safetensors");
        CliRun invert = CliRun.of("invert", "--model", Fixtures.tinyModel().toString(), "--image", photo.toString(),
                "--prompt", "a tree", "--width", "256", "--height", "192", "--out", file.toString(), "--steps", "2");
        assertEquals(SuppressCli.BAD_INPUT, invert.exitCode(), invert.transcript());
        assertTrue(invert.err().contains("width 256") && invert.err().contains("height 192"), invert.transcript());
        assertFalse(Files.exists(file), "nothing written");
    }

    private static GenerateCommand parse(String... args) {
        String[] withSubcommand = new String[args.length + 1];
        withSubcommand[0] = "generate";
        System.arraycopy(args, 0, withSubcommand, 1, args.length);
        CommandLine.ParseResult result = SuppressCli.commandLine().parseArgs(withSubcommand);
        return (GenerateCommand) result.subcommand().commandSpec().userObject();
    }
}
