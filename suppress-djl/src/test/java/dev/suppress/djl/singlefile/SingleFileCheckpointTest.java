package dev.suppress.djl.singlefile;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.backend.UNetDescription.PredictionType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.weights.PartSource;
import dev.suppress.djl.weights.TensorSource;
import dev.suppress.djl.weights.WeightFiles;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Single-file LDM checkpoints written from our own tiny models ({@link LdmCheckpointWriter}): SD 1.x (the fixture)
 * and SD 2.x-shaped (OpenCLIP layout with fused q/k/v, a dropped last layer, linear projections, v-prediction),
 * paired with their folders' configs ({@code --config}). They must load to the folder's exact tensors and
 * generate the folder's latents and images to float32 rounding (where no ITO amplifies it).
 */
class SingleFileCheckpointTest {

    @TempDir
    static Path temp;

    private static Path sd1Folder;
    private static Path sd1File;
    private static Path sd2Folder;
    private static Path sd2File;

    @BeforeAll
    static void writeCheckpoints() {
        sd1Folder = Fixtures.tinyModel();
        sd1File = temp.resolve("tiny-sd1.safetensors");
        LdmCheckpointWriter.write(sd1Folder, sd1File, false);
        sd2Folder = TinySd2Folder.write(sd1Folder, temp.resolve("tiny-sd2"));
        sd2File = temp.resolve("tiny-sd2.safetensors");
        LdmCheckpointWriter.write(sd2Folder, sd2File, true);
    }

    private static SingleFileCheckpoint.Options paired(Path configFolder) {
        return new SingleFileCheckpoint.Options(null, null, configFolder, temp.resolve("cache"));
    }

    @Test
    void sd1FileLoadsToTheFolderTensors() {
        assertSameTensors(sd1File, sd1Folder, SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder)));
    }

    @Test
    void sd2FileLoadsToTheFolderTensors() {
        SingleFileCheckpoint checkpoint = SingleFileCheckpoint.inspect(sd2File, paired(sd2Folder));
        assertEquals(LdmArchitecture.SD2, checkpoint.architecture());
        assertEquals(PredictionType.V_PREDICTION, checkpoint.predictionType());
        assertSameTensors(sd2File, sd2Folder, checkpoint);
    }

    private static void assertSameTensors(Path file, Path folder, SingleFileCheckpoint checkpoint) {
        try (PreparedCheckpoint prepared = PreparedCheckpoint.open(checkpoint.prepare())) {
            assertPartSame(prepared.textEncoder(), folder.resolve("text_encoder"));
            assertPartSame(prepared.unet(), folder.resolve("unet"));
            assertPartSame(prepared.vae(), folder.resolve("vae"));
        }
    }

    /** The part's tensors as the single file's view gives them equal the folder's: names, shapes, values. */
    static void assertPartSame(PartSource view, Path partFolder) {
        try (TensorSource source = view.openWeights(false);
             SafetensorsFile expected = SafetensorsFile.open(WeightFiles.find(partFolder))) {
            assertEquals(new TreeSet<>(expected.names()), new TreeSet<>(source.names()), partFolder.toString());
            for (String name : expected.names()) {
                assertArrayEquals(expected.info(name).shape(), source.info(name).shape(), name);
                assertArrayEquals(expected.floats(name), source.floats(name), name);
            }
        }
    }

    @Test
    void sd1FileGeneratesTheFolderImages() {
        assertSameRun(sd1Folder, SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder)).prepare());
    }

    @Test
    void sd2FileGeneratesTheFolderImages() {
        assertSameRun(sd2Folder, SingleFileCheckpoint.inspect(sd2File, paired(sd2Folder)).prepare());
    }

    private static void assertSameRun(Path folder, Path prepared) {
        // The folder's F32 weights alias its mapped file in place, the file's go through the renaming view: kernels
        // take differently aligned paths (1-ulp differences per pass, as DjlDenoiserVariantsTest's other kernels),
        // which three chained steps of the random tiny model grow to 4.5e-5 on latents of magnitude ~0.7 (measured,
        // SD 1 and SD 2). ITO would amplify that further (ALGORITHM.md), so chained runs are compared where no ITO
        // acts: the original branch of a suppressed run, and the suppressed branch of an SWR-only run. A wrong or
        // misnamed tensor moves these by O(1). The tensors themselves are compared exactly above.
        SuppressionRequest withIto = SuppressionRequest.builder("a man without glasses").suppress("glasses")
                .seed(7).steps(3).itoIterations(2).build();
        SuppressionRequest swrOnly = SuppressionRequest.builder("a man without glasses").suppress("glasses")
                .seed(7).steps(3).itoIterations(0).build();
        SuppressionResult[] expected = generateBoth(folder, withIto, swrOnly);
        SuppressionResult[] actual = generateBoth(prepared, withIto, swrOnly);
        Tolerance sameWeights = new Tolerance(1e-4, 1e-4, "same weights, other kernels (as DjlDenoiserVariantsTest), three chained steps");
        TensorAssertions.assertClose("original latent", expected[0].originalLatent(), actual[0].originalLatent(),
                sameWeights);
        TensorAssertions.assertClose("SWR-only suppressed latent", expected[1].suppressedLatent(),
                actual[1].suppressedLatent(), sameWeights);
        TensorAssertions.assertClose("SWR-only suppressed image", expected[1].suppressedImage(),
                actual[1].suppressedImage(), sameWeights);
    }

    private static SuppressionResult[] generateBoth(Path folder, SuppressionRequest first, SuppressionRequest second) {
        try (Suppressor suppressor = Suppressor.builder().backend("djl").modelFolder(folder).build()) {
            return new SuppressionResult[]{suppressor.generate(first), suppressor.generate(second)};
        }
    }

    @Test
    void picklesAreRefusedUnopened() throws IOException {
        for (String name : new String[]{"model.ckpt", "model.pt", "model.pth", "pytorch_model.bin"}) {
            Path pickle = temp.resolve(name);
            // a pickle that would run code if it were ever unpickled (it must not be read at all)
            Files.write(pickle, new byte[]{(byte) 0x80, 2, 'c', 'o', 's', '\n', 's', 'y', 's', 't', 'e', 'm'});
            ModelFormatException refused = assertThrows(ModelFormatException.class,
                    () -> SingleFileCheckpoint.inspect(pickle, SingleFileCheckpoint.Options.DEFAULTS));
            assertTrue(refused.getMessage().contains("unpickling runs whatever code"), refused.getMessage());
            assertTrue(refused.getMessage().contains("safetensors"), refused.getMessage());
        }
        Path renamed = temp.resolve("renamed-pickle.safetensors");
        Files.write(renamed, new byte[]{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0});
        ModelFormatException refused = assertThrows(ModelFormatException.class,
                () -> SingleFileCheckpoint.inspect(renamed, SingleFileCheckpoint.Options.DEFAULTS));
        assertTrue(refused.getMessage().contains("torch.save"), refused.getMessage());
    }

    @Test
    void predictionTypeComesFromTheOptionTheConfigTheYamlOrTheHeuristic() throws IOException {
        Path copy = temp.resolve("yaml-test/tiny-sd2.safetensors");
        Files.createDirectories(copy.getParent());
        Files.copy(sd2File, copy);
        SingleFileCheckpoint.Options detect = new SingleFileCheckpoint.Options(null, null, null,
                temp.resolve("cache"));
        SingleFileCheckpoint heuristic = SingleFileCheckpoint.inspect(copy, detect);
        assertEquals(PredictionType.V_PREDICTION, heuristic.predictionType());
        assertTrue(heuristic.predictionTypeSource().startsWith("heuristic"), heuristic.predictionTypeSource());

        Files.writeString(copy.resolveSibling("tiny-sd2.yaml"), "model:\n  params:\n    parameterization: \"eps\"\n");
        assertEquals(PredictionType.EPSILON, SingleFileCheckpoint.inspect(copy, detect).predictionType());
        Files.writeString(copy.resolveSibling("tiny-sd2.yaml"), "model:\n  params:\n    parameterization: \"v\"\n");
        assertEquals(PredictionType.V_PREDICTION, SingleFileCheckpoint.inspect(copy, detect).predictionType());

        SingleFileCheckpoint given = SingleFileCheckpoint.inspect(copy,
                new SingleFileCheckpoint.Options(null, PredictionType.EPSILON, null, temp.resolve("cache")));
        assertEquals(PredictionType.EPSILON, given.predictionType());
        assertEquals("given", given.predictionTypeSource());

        // a config folder's scheduler decides over the yaml
        SingleFileCheckpoint configured = SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder));
        assertEquals(PredictionType.EPSILON, configured.predictionType());
        assertEquals(LdmArchitecture.SD1, configured.architecture());
    }

    @Test
    void standardConfigsRefuseATinyFileByTensorName() {
        // without --config the shipped full-size SD 1.x configs are used: the tiny weights do not fit (it has one
        // layer per block, SD 1.5 two), and the error says so by tensor name
        Path prepared = SingleFileCheckpoint.inspect(sd1File, new SingleFileCheckpoint.Options(null, null, null,
                temp.resolve("cache"))).prepare();
        ModelFormatException wrong = assertThrows(ModelFormatException.class, () -> Suppressor.builder()
                .backend("djl").modelFolder(prepared).build());
        assertTrue(wrong.getMessage().contains("tiny-sd1.safetensors"), wrong.getMessage());
        assertTrue(wrong.getMessage().contains("input_blocks.4.0.op.bias"), wrong.getMessage());
        assertTrue(wrong.getMessage().contains("layers_per_block is 2"), wrong.getMessage());
    }

    @Test
    void emaAndScheduleBuffersAreIgnoredAndCounted() {
        SingleFileCheckpoint checkpoint = SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder));
        // 4 EMA copies of out.* plus model_ema.decay and model_ema.num_updates
        assertEquals(6, checkpoint.emaTensors(), checkpoint.summary());
        assertTrue(checkpoint.summary().contains("12 tensors outside"), checkpoint.summary());
    }

    @Test
    void theDroppedLastOpenClipLayerIsNotRead() {
        try (SafetensorsFile file = SafetensorsFile.open(sd2File);
             PreparedCheckpoint prepared = PreparedCheckpoint.open(SingleFileCheckpoint.inspect(sd2File,
                     paired(sd2Folder)).prepare());
             TensorSource clip = prepared.textEncoder().openWeights(false)) {
            assertTrue(file.contains("cond_stage_model.model.transformer.resblocks.2.ln_1.weight"));
            assertTrue(clip.names().stream().noneMatch(name -> name.contains("layers.2.")), clip.names().toString());
            // q, k and v are the three row blocks of in_proj_weight
            float[] fused = file.floats("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight");
            float[] k = clip.floats("text_model.encoder.layers.0.self_attn.k_proj.weight");
            assertArrayEquals(Arrays.copyOfRange(fused, k.length, 2 * k.length), k);
        }
    }

    @Test
    void aChangedCheckpointIsNoticed() throws IOException {
        Path copy = temp.resolve("changed/tiny-sd1.safetensors");
        Files.createDirectories(copy.getParent());
        Files.copy(sd1File, copy);
        Path prepared = SingleFileCheckpoint.inspect(copy, paired(sd1Folder)).prepare();
        Files.setLastModifiedTime(copy, java.nio.file.attribute.FileTime.fromMillis(0));
        ModelFormatException changed = assertThrows(ModelFormatException.class, () -> PreparedCheckpoint.open(prepared));
        assertTrue(changed.getMessage().contains("has changed"), changed.getMessage());
    }

    @Test
    void preparingTwiceReusesTheFolder() {
        Path first = SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder)).prepare();
        Path second = SingleFileCheckpoint.inspect(sd1File, paired(sd1Folder)).prepare();
        assertEquals(first, second);
        assertTrue(Files.isRegularFile(first.resolve("tokenizer/vocab.json")));
    }
}
