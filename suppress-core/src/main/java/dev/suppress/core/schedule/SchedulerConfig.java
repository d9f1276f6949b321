package dev.suppress.core.schedule;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.UNetDescription.PredictionType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * The fields of a diffusers {@code scheduler/scheduler_config.json} that {@link DdimScheduler} uses, with the
 * defaults of diffusers v0.21.4 {@code DDIMScheduler.__init__} for fields the file leaves out.
 *
 * <p>Any scheduler class's config can be read ({@code _class_name} is not checked): SD 1.x folders ship a
 * {@code PNDMScheduler} config whose beta fields are what DDIM needs, exactly as diffusers'
 * {@code DDIMScheduler.from_config} would take them. Note that such a config may omit {@code clip_sample},
 * {@code set_alpha_to_one} and {@code steps_offset}, which then take DDIM's defaults ({@code true}, {@code true},
 * {@code 0}) rather than the values of ALGORITHM.md §5; see {@link #suppressEotReference()}.
 *
 * @param numTrainTimesteps training steps N ({@code num_train_timesteps}, default 1000)
 * @param betaStart         first beta ({@code beta_start}, default 0.0001)
 * @param betaEnd           last beta ({@code beta_end}, default 0.02)
 * @param betaSchedule      how betas go from start to end ({@code beta_schedule}, default linear)
 * @param setAlphaToOne     whether the alpha product before step 0 is 1 rather than {@code alphas_cumprod[0]}
 *                          ({@code set_alpha_to_one}, default true)
 * @param stepsOffset       added to every leading-spacing timestep ({@code steps_offset}, default 0)
 * @param predictionType    what the UNet predicts ({@code prediction_type}, default epsilon)
 * @param timestepSpacing   how inference timesteps are spread ({@code timestep_spacing}, default leading)
 * @param clipSample        whether the predicted original sample is clamped ({@code clip_sample}, default true)
 * @param clipSampleRange   the clamp bound ({@code clip_sample_range}, default 1.0)
 */
public record SchedulerConfig(int numTrainTimesteps, double betaStart, double betaEnd, BetaSchedule betaSchedule,
                              boolean setAlphaToOne, int stepsOffset, PredictionType predictionType,
                              TimestepSpacing timestepSpacing, boolean clipSample, double clipSampleRange) {

    /**
     * The most training timesteps a config may declare: every released Stable Diffusion model has 1000, and the
     * schedule holds a few arrays of that length, so a larger number (a fuzzer found 6e8, 14 GB of arrays) is refused
     * before anything is sized by it.
     */
    public static final int MAX_TRAIN_TIMESTEPS = 100_000;

    /** Where a diffusers model folder keeps the scheduler config. */
    public static final String FILE_IN_MODEL_FOLDER = "scheduler/scheduler_config.json";

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** {@code beta_schedule}: the supported ways betas go from {@code beta_start} to {@code beta_end}. */
    public enum BetaSchedule {
        /** {@code linear}: evenly spaced betas. */
        LINEAR("linear"),
        /** {@code scaled_linear}: evenly spaced square roots of the betas (Stable Diffusion). */
        SCALED_LINEAR("scaled_linear");

        private final String configName;

        BetaSchedule(String configName) {
            this.configName = configName;
        }

        /** The spelling in {@code scheduler_config.json}. */
        public String configName() {
            return configName;
        }
    }

    /** {@code timestep_spacing}: Table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed". */
    public enum TimestepSpacing {
        /** {@code leading}: {@code (S-1-i) * (N / S) + steps_offset} (integer step ratio). */
        LEADING("leading"),
        /** {@code trailing}: {@code round(N - i * N / S) - 1}. */
        TRAILING("trailing"),
        /** {@code linspace}: {@code round(linspace(0, N - 1, S))}, reversed. */
        LINSPACE("linspace");

        private final String configName;

        TimestepSpacing(String configName) {
            this.configName = configName;
        }

        /** The spelling in {@code scheduler_config.json}. */
        public String configName() {
            return configName;
        }
    }

    /**
     * @throws IllegalArgumentException when a value is out of range or an enum is null
     */
    public SchedulerConfig {
        Objects.requireNonNull(betaSchedule, "betaSchedule");
        Objects.requireNonNull(predictionType, "predictionType");
        Objects.requireNonNull(timestepSpacing, "timestepSpacing");
        if (numTrainTimesteps < 1 || numTrainTimesteps > MAX_TRAIN_TIMESTEPS) {
            throw new IllegalArgumentException("num_train_timesteps must be from 1 to " + MAX_TRAIN_TIMESTEPS
                    + ", found " + numTrainTimesteps);
        }
        checkBeta("beta_start", betaStart);
        checkBeta("beta_end", betaEnd);
        if (stepsOffset < 0) {
            throw new IllegalArgumentException("steps_offset must not be negative, found " + stepsOffset);
        }
        if (!(clipSampleRange > 0) || Double.isInfinite(clipSampleRange)) {
            throw new IllegalArgumentException("clip_sample_range must be positive and finite, found "
                    + clipSampleRange);
        }
    }

    private static void checkBeta(String field, double beta) {
        if (!(beta >= 0 && beta < 1)) {
            throw new IllegalArgumentException(field + " must be in [0, 1), found " + beta);
        }
    }

    /** The defaults of diffusers v0.21.4 {@code DDIMScheduler.__init__}, used for every field a file omits. */
    public static SchedulerConfig diffusersDefaults() {
        return new SchedulerConfig(1000, 0.0001, 0.02, BetaSchedule.LINEAR, true, 0, PredictionType.EPSILON,
                TimestepSpacing.LEADING, true, 1.0);
    }

    /**
     * The DDIM scheduler of the SuppressEOT reference and ALGORITHM.md §5: 1000 steps, scaled-linear betas
     * 0.00085…0.012, {@code clip_sample} off, {@code set_alpha_to_one} off, {@code steps_offset} 1, epsilon
     * prediction, leading spacing.
     */
    public static SchedulerConfig suppressEotReference() {
        return new SchedulerConfig(1000, 0.00085, 0.012, BetaSchedule.SCALED_LINEAR, false, 1,
                PredictionType.EPSILON, TimestepSpacing.LEADING, false, 1.0);
    }

    /** Reads {@value #FILE_IN_MODEL_FOLDER} of a diffusers model folder; see {@link #read(Path)}. */
    public static SchedulerConfig readFromModelFolder(Path modelFolder) {
        return read(modelFolder.resolve(FILE_IN_MODEL_FOLDER));
    }

    /**
     * The {@code prediction_type} of a diffusers model folder's {@value #FILE_IN_MODEL_FOLDER}, epsilon when the folder
     * has no scheduler config (ONNX exports often ship without one). Backends report it in their
     * {@link dev.suppress.core.backend.UNetDescription}.
     *
     * @throws ModelFormatException as {@link #read(Path)} when the file is there but unsupported
     */
    public static PredictionType predictionTypeOfModelFolder(Path modelFolder) {
        Path file = modelFolder.resolve(FILE_IN_MODEL_FOLDER);
        return Files.isRegularFile(file) ? read(file).predictionType() : PredictionType.EPSILON;
    }

    /**
     * Reads a {@code scheduler_config.json}. Unknown fields are ignored; missing fields and JSON nulls take
     * {@link #diffusersDefaults()}.
     *
     * @param file the JSON file
     * @throws ModelFormatException when the file is missing, is not a JSON object, a field has the wrong type or an
     *                              out-of-range value, or asks for something this scheduler does not implement
     *                              ({@code squaredcos_cap_v2}, {@code trained_betas}, {@code sample} prediction,
     *                              {@code thresholding}, {@code rescale_betas_zero_snr}); the message names the field
     * @throws UncheckedIOException when the file exists but cannot be read
     */
    public static SchedulerConfig read(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ModelFormatException(file, "Scheduler config file is missing", e);
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(file, "Scheduler config is not valid UTF-8", e);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read scheduler config " + file, e);
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "Scheduler config is not valid JSON: " + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file, "Scheduler config must be a JSON object, found "
                    + (root == null ? "nothing" : root.getNodeType()));
        }
        return new Parser(file, root).parse();
    }

    /** Reads the fields of one config object, naming the file and the field in every error. */
    private static final class Parser {

        private final Path file;
        private final JsonNode root;

        Parser(Path file, JsonNode root) {
            this.file = file;
            this.root = root;
        }

        SchedulerConfig parse() {
            SchedulerConfig defaults = diffusersDefaults();
            rejectIfTrue("thresholding", "dynamic thresholding is not implemented");
            rejectIfTrue("rescale_betas_zero_snr", "zero-terminal-SNR rescaling is not implemented");
            JsonNode trainedBetas = root.get("trained_betas");
            if (trainedBetas != null && !trainedBetas.isNull()) {
                throw error("trained_betas", "is set; explicit beta lists are not supported, only beta_start, "
                        + "beta_end and beta_schedule");
            }
            int numTrainTimesteps = intField("num_train_timesteps", defaults.numTrainTimesteps());
            if (numTrainTimesteps < 1 || numTrainTimesteps > MAX_TRAIN_TIMESTEPS) {
                throw error("num_train_timesteps", "must be from 1 to " + MAX_TRAIN_TIMESTEPS + ", found "
                        + numTrainTimesteps);
            }
            double betaStart = betaField("beta_start", defaults.betaStart());
            double betaEnd = betaField("beta_end", defaults.betaEnd());
            BetaSchedule betaSchedule = betaSchedule(defaults.betaSchedule());
            boolean setAlphaToOne = booleanField("set_alpha_to_one", defaults.setAlphaToOne());
            int stepsOffset = intField("steps_offset", defaults.stepsOffset());
            if (stepsOffset < 0) {
                throw error("steps_offset", "must not be negative, found " + stepsOffset);
            }
            PredictionType predictionType = predictionType(defaults.predictionType());
            TimestepSpacing spacing = timestepSpacing(defaults.timestepSpacing());
            boolean clipSample = booleanField("clip_sample", defaults.clipSample());
            double clipSampleRange = doubleField("clip_sample_range", defaults.clipSampleRange());
            if (!(clipSampleRange > 0) || Double.isInfinite(clipSampleRange)) {
                throw error("clip_sample_range", "must be positive and finite, found " + clipSampleRange);
            }
            return new SchedulerConfig(numTrainTimesteps, betaStart, betaEnd, betaSchedule, setAlphaToOne,
                    stepsOffset, predictionType, spacing, clipSample, clipSampleRange);
        }

        private JsonNode present(String field) {
            JsonNode node = root.get(field);
            return node == null || node.isNull() ? null : node;
        }

        private int intField(String field, int fallback) {
            JsonNode node = present(field);
            if (node == null) {
                return fallback;
            }
            if (node.isIntegralNumber() && node.canConvertToInt()) {
                return node.intValue();
            }
            if (node.isFloatingPointNumber() && node.doubleValue() == Math.rint(node.doubleValue())
                    && Math.abs(node.doubleValue()) <= Integer.MAX_VALUE) {
                return (int) node.doubleValue();
            }
            throw error(field, "must be an integer, found " + node);
        }

        private double doubleField(String field, double fallback) {
            JsonNode node = present(field);
            if (node == null) {
                return fallback;
            }
            if (!node.isNumber() || !Double.isFinite(node.doubleValue())) {
                throw error(field, "must be a finite number, found " + node);
            }
            return node.doubleValue();
        }

        private double betaField(String field, double fallback) {
            double beta = doubleField(field, fallback);
            if (!(beta >= 0 && beta < 1)) {
                throw error(field, "must be in [0, 1), found " + beta);
            }
            return beta;
        }

        private boolean booleanField(String field, boolean fallback) {
            JsonNode node = present(field);
            if (node == null) {
                return fallback;
            }
            if (!node.isBoolean()) {
                throw error(field, "must be true or false, found " + node);
            }
            return node.booleanValue();
        }

        private void rejectIfTrue(String field, String why) {
            if (booleanField(field, false)) {
                throw error(field, "is true; " + why);
            }
        }

        private String stringField(String field) {
            JsonNode node = present(field);
            if (node == null) {
                return null;
            }
            if (!node.isTextual()) {
                throw error(field, "must be a string, found " + node);
            }
            return node.textValue();
        }

        private BetaSchedule betaSchedule(BetaSchedule fallback) {
            String value = stringField("beta_schedule");
            if (value == null) {
                return fallback;
            }
            for (BetaSchedule schedule : BetaSchedule.values()) {
                if (schedule.configName().equals(value)) {
                    return schedule;
                }
            }
            throw error("beta_schedule", "is '" + value + "'; supported: linear, scaled_linear");
        }

        private PredictionType predictionType(PredictionType fallback) {
            String value = stringField("prediction_type");
            if (value == null) {
                return fallback;
            }
            return switch (value) {
                case "epsilon" -> PredictionType.EPSILON;
                case "v_prediction" -> PredictionType.V_PREDICTION;
                default -> throw error("prediction_type", "is '" + value + "'; supported: epsilon, v_prediction");
            };
        }

        private TimestepSpacing timestepSpacing(TimestepSpacing fallback) {
            String value = stringField("timestep_spacing");
            if (value == null) {
                return fallback;
            }
            for (TimestepSpacing spacing : TimestepSpacing.values()) {
                if (spacing.configName().equals(value)) {
                    return spacing;
                }
            }
            throw error("timestep_spacing", "is '" + value + "'; supported: leading, trailing, linspace");
        }

        private ModelFormatException error(String field, String problem) {
            return new ModelFormatException(file, String.format(Locale.ROOT,
                    "Scheduler config field '%s' %s", field, problem));
        }
    }
}
