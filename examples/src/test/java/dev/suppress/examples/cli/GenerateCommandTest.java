package dev.suppress.examples.cli;

import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.backend.Device;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code suppress generate}'s options, parsed into the request and the model options without running a model. */
class GenerateCommandTest {

    private static final String PROMPT = "a man with a beard wearing glasses and a hat";

    @TempDir
    Path dir;

    @Test
    void everyRequestFlagReachesTheRequest() {
        GenerateCommand command = parse("--prompt", PROMPT, "--suppress", "glasses", "a hat", "--token-indices", "2,3",
                "--seed", "7", "--steps", "30", "--guidance", "5.5", "--swr", "beta", "--alpha", "0.25", "--tau", "0.6",
                "--ito-iterations", "3", "--ito-step-scale", "12", "--max-ito-step", "15",
                "--loss-weights", "1,-1,0.5,-0.25", "--negative-prompt", "blurry", "--head-averaging", "all",
                "--attention-resolution", "8", "--size", "256", "--mode", "reference", "--suppressed-only");
        SuppressionRequest expected = SuppressionRequest.builder(PROMPT)
                .suppress("glasses", "a hat")
                .suppressTokenIndices(2, 3)
                .seed(7)
                .steps(30)
                .guidanceScale(5.5)
                .regularization(SoftWeightedRegularization.Variant.BETA, 0.25)
                .tau(0.6)
                .itoIterations(3)
                .itoStepScale(12)
                .maxItoStep(15)
                .lossWeights(new LossWeights(1, -1, 0.5, -0.25))
                .negativePrompt("blurry")
                .itoHeadAveraging(HeadAveraging.ALL_HEADS)
                .attentionResolution(8)
                .imageSize(256)
                .suppressedOnly(true)
                .mode(Mode.REFERENCE)
                .build();
        assertEquals(expected, command.request());
    }

    @Test
    void flagsNotGivenKeepTheRequestDefaults() {
        SuppressionRequest defaults = SuppressionRequest.builder(PROMPT).suppress("glasses").build();
        assertEquals(defaults, parse("--prompt", PROMPT, "--suppress", "glasses").request());
        assertEquals(defaults, parse("--prompt", PROMPT, "--suppress", "glasses", "--swr", "soft-weight").request());
        assertEquals(defaults, parse("--prompt", PROMPT, "--suppress", "glasses", "--head-averaging", "first-half")
                .request());
    }

    @Test
    void eachVariantNameSelectsItsVariant() {
        Map<String, SoftWeightedRegularization.Variant> names = Map.of(
                "soft-weight", SoftWeightedRegularization.Variant.SOFT_WEIGHT,
                "alpha", SoftWeightedRegularization.Variant.ALPHA,
                "beta", SoftWeightedRegularization.Variant.BETA,
                "delete", SoftWeightedRegularization.Variant.DELETE,
                "weight", SoftWeightedRegularization.Variant.WEIGHT);
        names.forEach((name, variant) -> assertEquals(variant,
                parse("--prompt", PROMPT, "--token-indices", "7", "--swr", name, "--alpha", "0.5").request()
                        .swr().variant(), name));
    }

    @Test
    void strengthenTurnsItoOffUnlessIterationsAreGiven() {
        assertEquals(SuppressionRequest.builder(PROMPT).suppress("hat").strengthen().build(),
                parse("--prompt", PROMPT, "--suppress", "hat", "--strengthen").request());
        assertEquals(SuppressionRequest.builder(PROMPT).suppress("hat").strengthen().itoIterations(4).build(),
                parse("--prompt", PROMPT, "--suppress", "hat", "--ito-iterations", "4", "--strengthen").request());
    }

    @Test
    void strengthenWithAnotherVariantIsRefused() {
        GenerateCommand command = parse("--prompt", PROMPT, "--suppress", "hat", "--strengthen", "--swr", "alpha");
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class, command::request);
        assertTrue(error.getMessage().contains("--strengthen and --swr"), error.getMessage());
    }

    @Test
    void initialLatentFileOverridesTheSeed() {
        Tensor latent = Tensor.of(sequence(4 * 8 * 8), 1, 4, 8, 8);
        Path file = dir.resolve("start.safetensors");
        SafetensorsWriter.write(file, Map.of(GenerateCommand.LATENT_TENSOR, latent));
        SuppressionRequest request = parse("--prompt", PROMPT, "--suppress", "hat", "--seed", "5",
                "--initial-latent", file.toString()).request();
        assertEquals(latent, request.initialLatent());
    }

    @Test
    void modelAndOutputOptionsAreParsed() {
        GenerateCommand command = parse("--prompt", PROMPT, "--suppress", "hat", "--model", "models/sd15-onnx",
                "--backend", "onnx", "--device", "gpu:1", "--cpu-fallback", "--tokenizer", "tok",
                "--scheduler-config", "sched.json", "--cache-dir", "cache", "--out", "pictures",
                "--save-latents", "final.safetensors", "--verbose");
        ModelOptions model = command.modelOptions;
        assertEquals(Path.of("models/sd15-onnx"), model.model);
        assertEquals("onnx", model.backend);
        assertEquals(Device.gpu(1), model.device);
        assertTrue(model.cpuFallback);
        assertEquals(Path.of("tok"), model.tokenizer);
        assertEquals(Path.of("sched.json"), model.schedulerConfig);
        assertEquals(Path.of("cache"), model.cacheDir);
        assertFalse(model.usesDefaultModel());
        assertEquals(Path.of("pictures"), command.out);
        assertEquals(Path.of("final.safetensors"), command.saveLatents);
        assertTrue(command.verbose());
    }

    @Test
    void modelOptionsDefaultToTheBuiltInModelOnTheCpuWithDjl() {
        GenerateCommand command = parse("--prompt", PROMPT, "--suppress", "hat");
        ModelOptions model = command.modelOptions;
        assertTrue(model.usesDefaultModel());
        assertEquals("djl", model.backend);
        assertEquals(Device.CPU, model.device);
        assertFalse(model.cpuFallback);
        assertNull(model.tokenizer);
        assertNull(model.schedulerConfig);
        assertEquals(Path.of("out"), command.out);
        assertNull(command.saveLatents);
        assertFalse(command.verbose());
    }

    private static GenerateCommand parse(String... args) {
        String[] withSubcommand = new String[args.length + 1];
        withSubcommand[0] = "generate";
        System.arraycopy(args, 0, withSubcommand, 1, args.length);
        CommandLine.ParseResult result = SuppressCli.commandLine().parseArgs(withSubcommand);
        return (GenerateCommand) result.subcommand().commandSpec().userObject();
    }

    private static float[] sequence(int length) {
        float[] values = new float[length];
        for (int i = 0; i < length; i++) {
            values[i] = i * 0.01f - 1f;
        }
        return values;
    }
}
