package dev.suppress.examples.cli;

import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input ends with exit code 2 and one line on standard error naming the problem, without a stack trace. */
class SuppressCliErrorTest {

    @TempDir
    Path dir;

    @Test
    void aMissingPromptIsAUsageError() {
        CliRun run = CliRun.of("generate", "--suppress", "glasses");
        assertBadInput(run, "Missing required option: '--prompt=TEXT'");
        assertTrue(run.err().contains("see 'suppress generate --help'"), run.transcript());
    }

    @Test
    void anUnknownVariantNamesTheValueAndTheChoices() {
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--swr", "erase"),
                "'erase' is not one of soft-weight, alpha, beta, delete, weight");
    }

    @Test
    void malformedLossWeightsAreRefused() {
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--loss-weights", "1,2"),
                "expected four comma-separated numbers");
    }

    @Test
    void anUnknownDeviceIsRefused() {
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--device", "tpu"),
                "Unknown device 'tpu'");
    }

    @Test
    void nothingToSuppressIsRefused() {
        assertBadInput(CliRun.of("generate", "--prompt", "a man"), "Name at least one word");
    }

    @Test
    void aMissingModelFolderIsNamed() {
        Path missing = dir.resolve("no-such-model");
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--model", missing.toString()),
                "--model " + missing + ": no such folder");
    }

    @Test
    void theBuiltInModelIsNotOfferedToTheOnnxBackend() {
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--backend", "onnx"),
                "with --backend onnx give --model");
    }

    @Test
    void aMalformedInitialLatentFileIsNamedAndVerboseAddsTheStackTrace() throws IOException {
        Path file = Files.writeString(dir.resolve("broken.safetensors"), "not a safetensors file");
        String[] args = {"generate", "--prompt", "a man", "--suppress", "man", "--initial-latent", file.toString()};
        assertBadInput(CliRun.of(args), file.toString());

        String[] verbose = new String[args.length + 1];
        System.arraycopy(args, 0, verbose, 0, args.length);
        verbose[args.length] = "--verbose";
        CliRun run = CliRun.of(verbose);
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("\tat dev.suppress."), "a stack trace with --verbose: " + run.transcript());
    }

    @Test
    void anInitialLatentFileWithoutTheLatentTensorIsNamed() {
        Path file = dir.resolve("other.safetensors");
        SafetensorsWriter.write(file, Map.of("noise", Tensor.zeros(1, 4, 8, 8)));
        assertBadInput(CliRun.of("generate", "--prompt", "a man", "--suppress", "man", "--initial-latent",
                file.toString()), "has no tensor 'latent'; found [noise]");
    }

    @Test
    void aWordThatIsNotInThePromptIsNamed() {
        CliRun run = CliRun.of("generate", "--model", Fixtures.tinyModel().toString(), "--prompt", "a man",
                "--suppress", "glasses", "--out", dir.toString());
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        // the prompt's tokens are known once the model's tokenizer is loaded, after its progress line
        String[] lines = run.err().strip().split("\n");
        assertTrue(lines[lines.length - 1].startsWith("error: Word 'glasses'"), run.transcript());
        assertFalse(run.err().contains("\tat "), run.transcript());
        assertTrue(run.out().isEmpty(), run.transcript());
    }

    @Test
    void noSubcommandPrintsTheUsage() {
        CliRun run = CliRun.of();
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("generate"), run.transcript());
    }

    private static void assertBadInput(CliRun run, String expectedInMessage) {
        assertEquals(SuppressCli.BAD_INPUT, run.exitCode(), run.transcript());
        String error = run.err().strip();
        assertFalse(error.contains("\n"), "one line: " + run.transcript());
        assertTrue(error.startsWith("error: ") && error.contains(expectedInMessage),
                "expected an error line with '" + expectedInMessage + "': " + run.transcript());
        assertTrue(run.out().isEmpty(), run.transcript());
    }
}
