package dev.suppress.core.internal.schedule;

import dev.suppress.core.schedule.SchedulerConfig;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.UNetDescription.PredictionType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.schedule.SchedulerConfig.BetaSchedule;
import dev.suppress.core.schedule.SchedulerConfig.TimestepSpacing;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static dev.suppress.core.testing.TensorAssertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DdimSchedulerTest {

    private static final String FIXTURE = "scheduler/ddim.safetensors";

    /** Bit-exact: betas, cumprod and step replay PyTorch's float32 operations one for one. */
    private static final Tolerance BIT_EXACT = new Tolerance(0, 0,
            "torch float32 operations reproduced one for one (AVX2 linspace, float64-accumulated cumprod)");
    /** Two float32 computations of the same DDIM formula; x_0 can reach 60 at t = 981 (division by 0.07). */
    private static final Tolerance FLOAT32_REWRITE = new Tolerance(1e-5, 1e-5,
            "same DDIM formula through a different sequence of float32 roundings");
    /** Step then inverse step: each float32 pass loses a few ulps, divided by sqrt(alpha) >= 0.07. */
    private static final Tolerance ROUND_TRIP = new Tolerance(1e-5, 2e-5,
            "two float32 DDIM updates, the worst one dividing by sqrt(alphas_cumprod[981]) = 0.07");

    private static DdimScheduler reference() {
        return new DdimScheduler(SchedulerConfig.suppressEotReference(), 50);
    }

    @Test
    void timestepsMatchDiffusers() {
        long[] expected;
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            expected = fixture.longs("timesteps");
        }
        int[] actual = reference().timesteps();
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], "timestep at step index " + i);
        }
    }

    @Test
    void betasAndAlphaProductsMatchTorchBitForBit() {
        DdimScheduler scheduler = reference();
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            assertClose("betas", fixture.floats("betas"), scheduler.betas(), BIT_EXACT);
            assertClose("alphas_cumprod", fixture.floats("alphas_cumprod"), scheduler.alphasCumprod(), BIT_EXACT);
            assertClose("final_alpha_cumprod", fixture.floats("final_alpha_cumprod"),
                    new float[] {scheduler.finalAlphaCumprod()}, BIT_EXACT);
        }
    }

    @ParameterizedTest(name = "step at t = {0}")
    @CsvSource({"981", "1"})
    void stepMatchesTorchBitForBit(int timestep) {
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            String prefix = "step_t" + timestep + "_";
            DdimScheduler.StepResult result = reference().step(fixture.tensor(prefix + "model_output"), timestep,
                    fixture.tensor(prefix + "sample"));
            assertClose(prefix + "prev_sample", fixture.tensor(prefix + "prev_sample"), result.prevSample(),
                    BIT_EXACT);
            assertClose(prefix + "pred_original_sample", fixture.tensor(prefix + "pred_original_sample"),
                    result.predOriginalSample(), BIT_EXACT);
        }
    }

    @Test
    void readsTheTinyModelConfig() {
        SchedulerConfig config = SchedulerConfig.readFromModelFolder(Fixtures.tinyModel());
        assertEquals(SchedulerConfig.suppressEotReference(), config);
        assertEquals(1000, config.numTrainTimesteps());
        assertEquals(0.00085, config.betaStart());
        assertEquals(0.012, config.betaEnd());
        assertEquals(BetaSchedule.SCALED_LINEAR, config.betaSchedule());
        assertFalse(config.setAlphaToOne());
        assertEquals(1, config.stepsOffset());
        assertEquals(PredictionType.EPSILON, config.predictionType());
        assertEquals(TimestepSpacing.LEADING, config.timestepSpacing());
        assertFalse(config.clipSample());
    }

    @Test
    void missingFieldsTakeDiffusersDefaults(@TempDir Path dir) throws IOException {
        Path file = write(dir, "{\"_class_name\": \"PNDMScheduler\", \"skip_prk_steps\": true, \"beta_end\": 0.012}");
        SchedulerConfig config = SchedulerConfig.read(file);
        SchedulerConfig defaults = SchedulerConfig.diffusersDefaults();
        assertEquals(0.012, config.betaEnd());
        assertEquals(defaults.betaStart(), config.betaStart());
        assertEquals(defaults.betaSchedule(), config.betaSchedule());
        assertTrue(config.clipSample());
        assertTrue(config.setAlphaToOne());
        assertEquals(0, config.stepsOffset());
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource(delimiter = '|', value = {
            "{\"beta_schedule\": \"squaredcos_cap_v2\"}                 | beta_schedule",
            "{\"beta_start\": \"0.001\"}                                | beta_start",
            "{\"beta_end\": 1.5}                                        | beta_end",
            "{\"num_train_timesteps\": 999.5}                           | num_train_timesteps",
            "{\"num_train_timesteps\": 0}                               | num_train_timesteps",
            "{\"num_train_timesteps\": 600000000}                       | num_train_timesteps",
            "{\"steps_offset\": -1}                                     | steps_offset",
            "{\"clip_sample\": \"no\"}                                  | clip_sample",
            "{\"prediction_type\": \"sample\"}                          | prediction_type",
            "{\"timestep_spacing\": \"karras\"}                         | timestep_spacing",
            "{\"thresholding\": true}                                   | thresholding",
            "{\"rescale_betas_zero_snr\": true}                         | rescale_betas_zero_snr",
            "{\"trained_betas\": [0.1, 0.2]}                            | trained_betas",
            "{\"clip_sample_range\": 0}                                 | clip_sample_range"})
    void malformedFieldsNameTheFileAndField(String json, String field, @TempDir Path dir) throws IOException {
        Path file = write(dir, json);
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> SchedulerConfig.read(file));
        assertTrue(error.getMessage().contains("'" + field + "'"), error.getMessage());
        assertTrue(error.getMessage().contains(file.toString()), error.getMessage());
        assertEquals(file, error.file());
    }

    @Test
    void theModelFoldersPredictionTypeIsEpsilonWithoutASchedulerConfig(@TempDir Path model) throws IOException {
        assertEquals(PredictionType.EPSILON, SchedulerConfig.predictionTypeOfModelFolder(model));
        Path file = model.resolve(SchedulerConfig.FILE_IN_MODEL_FOLDER);
        Files.createDirectories(file.getParent());
        Files.writeString(file, "{\"prediction_type\": \"v_prediction\"}");
        assertEquals(PredictionType.V_PREDICTION, SchedulerConfig.predictionTypeOfModelFolder(model));
        Files.writeString(file, "{\"prediction_type\": \"sample\"}");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> SchedulerConfig.predictionTypeOfModelFolder(model));
        assertEquals(file, error.file());
        assertTrue(error.getMessage().contains("'prediction_type'"), error.getMessage());
    }

    @Test
    void unreadableFilesAreModelFormatErrors(@TempDir Path dir) throws IOException {
        Path notJson = write(dir, "{\"beta_end\": 0.012,");
        assertTrue(assertThrows(ModelFormatException.class, () -> SchedulerConfig.read(notJson))
                .getMessage().contains("not valid JSON"));
        Path array = write(dir, "[1, 2]");
        assertTrue(assertThrows(ModelFormatException.class, () -> SchedulerConfig.read(array))
                .getMessage().contains("JSON object"));
        Path latin1 = dir.resolve("latin1.json");
        Files.write(latin1, new byte[] {'{', '"', (byte) 0xe9, '"', ':', '1', '}'});
        assertTrue(assertThrows(ModelFormatException.class, () -> SchedulerConfig.read(latin1))
                .getMessage().contains("UTF-8"));
        Path missing = dir.resolve("absent.json");
        assertEquals(missing, assertThrows(ModelFormatException.class, () -> SchedulerConfig.read(missing)).file());
    }

    @Test
    void spacingsMatchNumpyFormulas() {
        // Expected values computed with numpy from diffusers v0.21.4 DDIMScheduler.set_timesteps.
        assertArrayEquals(new int[] {999, 899, 799, 699, 599, 499, 399, 299, 199, 99},
                timestepsFor(TimestepSpacing.TRAILING, 10, 0));
        assertArrayEquals(new int[] {999, 856, 713, 570, 428, 285, 142}, timestepsFor(TimestepSpacing.TRAILING, 7, 0));
        assertArrayEquals(new int[] {999, 888, 777, 666, 555, 444, 333, 222, 111, 0},
                timestepsFor(TimestepSpacing.LINSPACE, 10, 0));
        assertArrayEquals(new int[] {999, 832, 666, 500, 333, 166, 0}, timestepsFor(TimestepSpacing.LINSPACE, 7, 0));
        assertArrayEquals(new int[] {853, 711, 569, 427, 285, 143, 1}, timestepsFor(TimestepSpacing.LEADING, 7, 1));
    }

    @Test
    void rejectsStepCountsAndTimestepsOutOfRange() {
        SchedulerConfig config = SchedulerConfig.suppressEotReference();
        assertThrows(IllegalArgumentException.class, () -> new DdimScheduler(config, 0));
        assertThrows(IllegalArgumentException.class, () -> new DdimScheduler(config, 1001));
        IllegalArgumentException offset = assertThrows(IllegalArgumentException.class,
                () -> new DdimScheduler(config, 1000));
        assertTrue(offset.getMessage().contains("timestep 1000"), offset.getMessage());
        DdimScheduler scheduler = reference();
        Tensor latent = Tensor.zeros(1, 4, 2, 2);
        assertThrows(IllegalArgumentException.class, () -> scheduler.step(latent, 1000, latent));
        assertThrows(IllegalArgumentException.class, () -> scheduler.step(latent, -1, latent));
        assertThrows(IllegalArgumentException.class, () -> scheduler.step(Tensor.zeros(1, 4, 2, 3), 981, latent));
    }

    @Test
    void vPredictionStepEqualsTheEpsilonStepOfTheSameNoise() {
        // x_t = sqrt(a) x0 + sqrt(1-a) eps and v = sqrt(a) eps - sqrt(1-a) x0 describe the same state: a
        // v-prediction scheduler given v must land where an epsilon scheduler given eps lands, with the same x0.
        DdimScheduler epsilonScheduler = reference();
        SchedulerConfig base = SchedulerConfig.suppressEotReference();
        DdimScheduler velocityScheduler = new DdimScheduler(new SchedulerConfig(base.numTrainTimesteps(),
                base.betaStart(), base.betaEnd(), base.betaSchedule(), base.setAlphaToOne(), base.stepsOffset(),
                PredictionType.V_PREDICTION, base.timestepSpacing(), base.clipSample(), base.clipSampleRange()), 50);
        Random random = new Random(345);
        for (int timestep : new int[] {981, 501, 21, 1}) {
            double alpha = epsilonScheduler.alphasCumprod()[timestep];
            float[] original = gaussian(random, 256);
            float[] noise = gaussian(random, 256);
            float[] sample = new float[256];
            float[] velocity = new float[256];
            for (int i = 0; i < sample.length; i++) {
                sample[i] = (float) (Math.sqrt(alpha) * original[i] + Math.sqrt(1 - alpha) * noise[i]);
                velocity[i] = (float) (Math.sqrt(alpha) * noise[i] - Math.sqrt(1 - alpha) * original[i]);
            }
            Tensor x = Tensor.of(sample, 1, 4, 8, 8);
            DdimScheduler.StepResult fromEpsilon = epsilonScheduler.step(Tensor.of(noise, 1, 4, 8, 8), timestep, x);
            DdimScheduler.StepResult fromVelocity = velocityScheduler.step(Tensor.of(velocity, 1, 4, 8, 8), timestep,
                    x);
            assertClose("v x0 at t=" + timestep, Tensor.of(original, 1, 4, 8, 8),
                    fromVelocity.predOriginalSample(), FLOAT32_REWRITE);
            assertClose("v prev at t=" + timestep, fromEpsilon.prevSample(), fromVelocity.prevSample(),
                    FLOAT32_REWRITE);
        }
    }

    @Test
    void vPredictionInverseStepConvertsAtTheSourceLevel() {
        // DDIM inversion moves a latent from level t - N/S to level t; a v-prediction for a latent at level s means
        // v = sqrt(a_s) eps - sqrt(1-a_s) x0, and the result must be sqrt(a_t) x0 + sqrt(1-a_t) eps.
        SchedulerConfig base = SchedulerConfig.suppressEotReference();
        DdimScheduler velocityScheduler = new DdimScheduler(new SchedulerConfig(base.numTrainTimesteps(),
                base.betaStart(), base.betaEnd(), base.betaSchedule(), base.setAlphaToOne(), base.stepsOffset(),
                PredictionType.V_PREDICTION, base.timestepSpacing(), base.clipSample(), base.clipSampleRange()), 50);
        float[] alphas = velocityScheduler.alphasCumprod();
        Random random = new Random(345);
        for (int timestep : new int[] {981, 501, 21}) {
            double alphaSource = alphas[timestep - velocityScheduler.stepRatio()];
            double alphaTarget = alphas[timestep];
            float[] original = gaussian(random, 64);
            float[] noise = gaussian(random, 64);
            float[] sample = new float[64];
            float[] velocity = new float[64];
            float[] expected = new float[64];
            for (int i = 0; i < sample.length; i++) {
                sample[i] = (float) (Math.sqrt(alphaSource) * original[i] + Math.sqrt(1 - alphaSource) * noise[i]);
                velocity[i] = (float) (Math.sqrt(alphaSource) * noise[i] - Math.sqrt(1 - alphaSource) * original[i]);
                expected[i] = (float) (Math.sqrt(alphaTarget) * original[i] + Math.sqrt(1 - alphaTarget) * noise[i]);
            }
            Tensor inverted = velocityScheduler.inverseStep(Tensor.of(velocity, 1, 4, 4, 4), timestep,
                    Tensor.of(sample, 1, 4, 4, 4));
            assertClose("v inverse at t=" + timestep, Tensor.of(expected, 1, 4, 4, 4), inverted, FLOAT32_REWRITE);
        }
    }

    @Test
    void inverseStepUndoesStepForTheSameModelOutput() {
        DdimScheduler scheduler = reference();
        Random random = new Random(345);
        for (int timestep : scheduler.timesteps()) {
            Tensor noise = Tensor.of(gaussian(random, 64), 1, 4, 4, 4);
            Tensor latent = Tensor.of(gaussian(random, 64), 1, 4, 4, 4);
            Tensor previous = scheduler.step(noise, timestep, latent).prevSample();
            assertClose("inverse(step) at t=" + timestep, latent, scheduler.inverseStep(noise, timestep, previous),
                    ROUND_TRIP);
            Tensor next = scheduler.inverseStep(noise, timestep, latent);
            assertClose("step(inverse) at t=" + timestep, latent, scheduler.step(noise, timestep, next).prevSample(),
                    ROUND_TRIP);
        }
    }

    @Test
    void clipSampleClampsThePredictedOriginal() {
        SchedulerConfig base = SchedulerConfig.suppressEotReference();
        DdimScheduler clipping = new DdimScheduler(new SchedulerConfig(base.numTrainTimesteps(), base.betaStart(),
                base.betaEnd(), base.betaSchedule(), base.setAlphaToOne(), base.stepsOffset(), base.predictionType(),
                base.timestepSpacing(), true, 0.5), 50);
        Tensor sample = Tensor.of(new float[] {3f, -3f, 0.01f, 0f}, 1, 1, 2, 2);
        Tensor noise = Tensor.zeros(1, 1, 2, 2);
        float[] original = clipping.step(noise, 981, sample).predOriginalSample().toArray();
        assertArrayEquals(new float[] {0.5f, -0.5f, original[2], 0f}, original);
        assertEquals(0.01f / (float) Math.sqrt(clipping.alphasCumprod()[981]), original[2], 1e-6f);
    }

    @Test
    void stepLeavesItsInputsUnchangedAndIsRepeatable() {
        DdimScheduler scheduler = reference();
        Random random = new Random(345);
        Tensor noise = Tensor.of(gaussian(random, 64), 1, 4, 4, 4);
        Tensor latent = Tensor.of(gaussian(random, 64), 1, 4, 4, 4);
        Tensor latentCopy = Tensor.of(latent.toArray(), latent.shape());
        DdimScheduler.StepResult first = scheduler.step(noise, 501, latent);
        assertEquals(latentCopy, latent);
        assertEquals(first, scheduler.step(noise, 501, latent));
        assertEquals(reference(), scheduler);
    }

    @Test
    void linearScheduleUsesTorchLinspace() {
        DdimScheduler linear = new DdimScheduler(SchedulerConfig.diffusersDefaults(), 50);
        float[] betas = linear.betas();
        assertEquals(0.0001f, betas[0]);
        assertEquals(0.02f, betas[999]);
        for (int i = 1; i < betas.length; i++) {
            assertTrue(betas[i] > betas[i - 1], "betas increase at " + i);
        }
        assertEquals(1f, linear.finalAlphaCumprod());
        float[] plain = new float[1000];
        for (int i = 0; i < plain.length; i++) {
            plain[i] = (float) (0.0001 + i * (0.02 - 0.0001) / 999);
        }
        assertClose("linear betas vs float64 linspace", plain, betas,
                new Tolerance(1e-6, 0, "torch's float32 linspace differs from float64 by a few ulps"));
    }

    private static int[] timestepsFor(TimestepSpacing spacing, int steps, int offset) {
        SchedulerConfig base = SchedulerConfig.suppressEotReference();
        return new DdimScheduler(new SchedulerConfig(base.numTrainTimesteps(), base.betaStart(), base.betaEnd(),
                base.betaSchedule(), base.setAlphaToOne(), offset, base.predictionType(), spacing, base.clipSample(),
                base.clipSampleRange()), steps).timesteps();
    }

    private static float[] gaussian(Random random, int size) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    private static Path write(Path dir, String json) throws IOException {
        Path file = Files.createTempFile(dir, "scheduler_config", ".json");
        Files.writeString(file, json);
        return file;
    }

    @Test
    void stepOutputDerivativeIsTheSlopeOfTheStep() {
        for (PredictionType type : PredictionType.values()) {
            SchedulerConfig base = SchedulerConfig.suppressEotReference();
            SchedulerConfig config = new SchedulerConfig(base.numTrainTimesteps(), base.betaStart(), base.betaEnd(),
                    base.betaSchedule(), base.setAlphaToOne(), base.stepsOffset(), type, base.timestepSpacing(),
                    false, base.clipSampleRange());
            DdimScheduler scheduler = new DdimScheduler(config, 50);
            for (int timestep : new int[] {981, 501, 21, 1}) {
                Tensor sample = Tensor.of(new float[] {0.3f, -1.2f}, 1, 2);
                float[] low = scheduler.step(Tensor.of(new float[] {-0.5f, 0.25f}, 1, 2), timestep, sample)
                        .prevSample().toArray();
                float[] high = scheduler.step(Tensor.of(new float[] {1.5f, 2.25f}, 1, 2), timestep, sample)
                        .prevSample().toArray();
                double slope = scheduler.stepOutputDerivative(timestep);
                for (int i = 0; i < 2; i++) {
                    assertEquals((high[i] - low[i]) / 2.0, slope, 1e-5 * Math.max(1, Math.abs(slope)),
                            type + " t=" + timestep);
                }
            }
        }
    }
}
