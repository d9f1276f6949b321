package dev.suppress.examples.cli;

import dev.suppress.core.testing.Fixtures;
import dev.suppress.examples.tiny.TinySdxlModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress generate} and {@code edit} on a tiny SDXL folder, made as {@code make-model --arch sdxl} makes one. */
class SdxlCommandEndToEndTest {

    @TempDir
    Path dir;

    @Test
    void generatesWithSuppressionAndNamesTheAttentionLevel() {
        Path model = TinySdxlModel.write(dir.resolve("sdxl"));
        Path out = dir.resolve("out");
        CliRun run = CliRun.of("generate", "--model", model.toString(), "--prompt", "a man without glasses",
                "--suppress", "glasses", "--steps", "10", "--size", "128", "--ito-iterations", "2", "--out",
                out.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        // 16x16 latent: the first level has no cross-attention, so ITO uses the 8x8 level
        assertTrue(run.out().contains("(8x8 maps per prompt token"), run.transcript());
        assertTrue(run.out().contains("ito-steps: 2,3"), run.transcript());
        assertTrue(out.resolve("original-suppressed.png").toFile().isFile(), run.transcript());
    }

    @Test
    void editsAPhotoWithNegativePromptInversion() {
        Path model = TinySdxlModel.write(dir.resolve("sdxl"));
        Path out = dir.resolve("edit");
        CliRun run = CliRun.of("edit", "--model", model.toString(), "--image",
                Fixtures.path("real/input.png").toString(), "--prompt", "a man with glasses", "--suppress",
                "glasses", "--inversion", "npi", "--size", "128", "--steps", "4", "--ito-iterations", "1", "--out",
                out.toString());
        assertEquals(0, run.exitCode(), run.transcript());
        assertTrue(run.out().contains("input | reconstruction | suppressed"), run.transcript());
        assertTrue(out.resolve("suppressed.png").toFile().isFile(), run.transcript());
    }
}
