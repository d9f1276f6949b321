package dev.suppress.examples.cli;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import dev.suppress.djl.singlefile.LdmCheckpointWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code --model file.safetensors}: a single-file LDM checkpoint on the command line. */
class SingleFileModelTest {

    @TempDir
    Path dir;

    @Test
    void aSingleFileWithConfigGivesTheFolderLatentsAndPrintsWhatItIs() {
        Path checkpoint = dir.resolve("tiny-sd1.safetensors");
        LdmCheckpointWriter.write(Fixtures.tinyModel(), checkpoint, false);
        String[] request = {"--prompt", "a man without glasses", "--suppress", "glasses", "--steps", "3",
                "--ito-iterations", "0", "--cache-dir", dir.resolve("cache").toString()};
        CliRun folder = CliRun.of(concat(new String[]{"generate", "--model", Fixtures.tinyModel().toString(),
                "--out", dir.resolve("folder").toString(), "--save-latents",
                dir.resolve("folder.safetensors").toString()}, request));
        assertEquals(0, folder.exitCode(), folder.transcript());
        CliRun single = CliRun.of(concat(new String[]{"generate", "--model", checkpoint.toString(), "--config",
                Fixtures.tinyModel().toString(), "--out", dir.resolve("single").toString(), "--save-latents",
                dir.resolve("single.safetensors").toString()}, request));
        assertEquals(0, single.exitCode(), single.transcript());
        assertTrue(single.err().contains("architecture sd1") && single.out().contains("architecture sd1"),
                single.transcript());
        assertTrue(single.out().contains("prediction type epsilon"), single.transcript());
        try (SafetensorsFile a = SafetensorsFile.open(dir.resolve("folder.safetensors"));
             SafetensorsFile b = SafetensorsFile.open(dir.resolve("single.safetensors"))) {
            // the same weights through another mapping: 1-ulp kernel differences that three chained steps grow to
            // ~5e-5 on latents of magnitude ~1 (SingleFileCheckpointTest measures it); no ITO, which would amplify it
            TensorAssertions.assertClose("suppressed", a.floats("suppressed"), b.floats("suppressed"), SAME_WEIGHTS);
            TensorAssertions.assertClose("original", a.floats("original"), b.floats("original"), SAME_WEIGHTS);
        }
    }

    /** Chained float32 runs over the same weights: 1e-4 relative and absolute, as SingleFileCheckpointTest. */
    private static final Tolerance SAME_WEIGHTS = new Tolerance(1e-4, 1e-4,
            "same weights through another mapping, three chained steps, no ITO");

    @Test
    void aPickleIsRefusedSayingWhy() throws IOException {
        Path pickle = dir.resolve("model.ckpt");
        Files.write(pickle, new byte[]{(byte) 0x80, 2});
        CliRun run = CliRun.of("generate", "--model", pickle.toString(), "--prompt", "a cat", "--suppress", "cat", "--out",
                dir.resolve("out").toString(), "--cache-dir", dir.resolve("cache").toString());
        assertNotEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("unpickling runs whatever code"), run.transcript());
    }

    @Test
    void singleFileOptionsOnAFolderAreRefused() {
        CliRun run = CliRun.of("generate", "--model", Fixtures.tinyModel().toString(), "--arch", "sd2", "--prompt",
                "a cat", "--suppress", "cat", "--out", dir.resolve("out").toString());
        assertNotEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.err().contains("--arch, --prediction-type and --config apply to a single-file"),
                run.transcript());
    }

    private static String[] concat(String[] first, String[] second) {
        String[] out = new String[first.length + second.length];
        System.arraycopy(first, 0, out, 0, first.length);
        System.arraycopy(second, 0, out, first.length, second.length);
        return out;
    }
}
