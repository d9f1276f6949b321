package dev.suppress.examples.cli;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import dev.suppress.djl.singlefile.LdmArchitecture;
import dev.suppress.djl.singlefile.LdmCheckpointWriter;
import dev.suppress.examples.tiny.TinySdxlModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code suppress generate} and {@code edit} on a tiny SDXL folder, made as {@code make-model --arch sdxl} makes one,
 * and {@code generate} on its single file.
 */
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
    void itsSingleFileGeneratesTheFolderLatentsAndSaysSdxl() {
        Path model = TinySdxlModel.write(dir.resolve("sdxl"));
        // the layout make-model --arch sdxl --format single-file writes
        Path file = dir.resolve("tiny-sdxl.safetensors");
        LdmCheckpointWriter.write(model, file, LdmArchitecture.SDXL);
        String[] request = {"--prompt", "a man without glasses", "--suppress", "glasses", "--steps", "3", "--size",
                "128", "--ito-iterations", "0", "--cache-dir", dir.resolve("cache").toString()};
        CliRun folder = CliRun.of(concat(new String[]{"generate", "--model", model.toString(), "--out",
                dir.resolve("folder").toString(), "--save-latents", dir.resolve("folder-latents.safetensors")
                .toString()}, request));
        assertEquals(0, folder.exitCode(), folder.transcript());
        CliRun single = CliRun.of(concat(new String[]{"generate", "--model", file.toString(), "--config",
                model.toString(), "--out", dir.resolve("single").toString(), "--save-latents",
                dir.resolve("single-latents.safetensors").toString()}, request));
        assertEquals(0, single.exitCode(), single.transcript());
        assertTrue(single.out().contains("architecture sdxl"), single.transcript());
        assertTrue(single.out().contains("prediction type epsilon"), single.transcript());
        try (SafetensorsFile a = SafetensorsFile.open(dir.resolve("folder-latents.safetensors"));
             SafetensorsFile b = SafetensorsFile.open(dir.resolve("single-latents.safetensors"))) {
            // the same weights through another mapping (suppress-djl's SdxlSingleFileTest measures 2.0e-6 relative)
            TensorAssertions.assertClose("original", a.floats("original"), b.floats("original"), SAME_WEIGHTS);
            TensorAssertions.assertClose("suppressed", a.floats("suppressed"), b.floats("suppressed"), SAME_WEIGHTS);
        }
    }

    /** Chained float32 runs over the same weights: 1e-4 relative and absolute, as SingleFileModelTest. */
    private static final Tolerance SAME_WEIGHTS = new Tolerance(1e-4, 1e-4,
            "same weights through another mapping, three chained steps, no ITO");

    private static String[] concat(String[] first, String[] second) {
        String[] out = new String[first.length + second.length];
        System.arraycopy(first, 0, out, 0, first.length);
        System.arraycopy(second, 0, out, first.length, second.length);
        return out;
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
