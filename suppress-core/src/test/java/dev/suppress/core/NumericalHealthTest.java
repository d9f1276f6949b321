package dev.suppress.core;

import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.SuppressionPipeline;
import dev.suppress.core.internal.schedule.DdimScheduler;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.FakeBackend;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.text.ClipTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A NaN or infinity injected into one component at one step stops the run there, naming the step, the branch and
 * the component (and half precision when the backend computes in it).
 */
class NumericalHealthTest {

    private static final SchedulerConfig SCHEDULER = SchedulerConfig.suppressEotReference();
    private static final int STEPS = 10;
    private static final FiniteDifferenceOptions FINITE_DIFFERENCES =
            new FiniteDifferenceOptions(FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 2, 1e-2, 0);
    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void loadTokenizer() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    /** 10 steps, τ = 0.8: the branches part at step 2; ITO (2 iterations) at steps 2 and 3. */
    private static SuppressionRequest.Builder request(Mode mode) {
        return SuppressionRequest.builder("a man without glasses").suppress("glasses").seed(7).steps(STEPS)
                .tau(0.8).maxItoStep(4).itoIterations(2).mode(mode);
    }

    private static int timestepOf(int stepIndex) {
        return new DdimScheduler(SCHEDULER, STEPS).timestep(stepIndex);
    }

    private static NonFiniteValueException failure(Poison poison, SuppressionRequest request) {
        try (PoisonedBackend backend = new PoisonedBackend(poison)) {
            SuppressionPipeline pipeline = new SuppressionPipeline(backend, tokenizer, SCHEDULER, FINITE_DIFFERENCES);
            return assertThrows(NonFiniteValueException.class,
                    () -> pipeline.generate(request, ProgressListener.NONE));
        }
    }

    private static void assertMentions(NonFiniteValueException e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), () -> "'" + part + "' missing from: " + e.getMessage());
        }
    }

    @Test
    void nanNoisePredictionOfTheSuppressedBranchNamesStepBranchAndUNet() {
        Poison poison = new Poison();
        poison.noiseAtTimestep = timestepOf(5);
        poison.noiseBatch = 4;
        poison.noiseElement = 3;
        NonFiniteValueException e = failure(poison, request(Mode.REFERENCE).build());
        assertEquals(5, e.stepIndex());
        assertEquals("suppressed", e.branch());
        assertEquals("UNet", e.component());
        assertMentions(e, "denoising step 5", "suppressed branch", "noise prediction", "NaN",
                "conditional pass of the suppressed branch", "timestep " + timestepOf(5));
        assertTrue(!e.getMessage().contains("fp16"), e.getMessage());
    }

    @Test
    void infinityBeforeTheBranchesPartReachesBoth() {
        Poison poison = new Poison();
        poison.noiseAtTimestep = timestepOf(0);
        poison.noiseBatch = 2;
        poison.noiseElement = 1;
        poison.value = Float.POSITIVE_INFINITY;
        NonFiniteValueException e = failure(poison, request(Mode.FAST).build());
        assertEquals(0, e.stepIndex());
        assertEquals("both", e.branch());
        assertMentions(e, "original and suppressed branches", "Infinity", "after denoising step 0",
                "conditional pass");
    }

    @Test
    void nanPromptEmbeddingNamesTheTextEncoder() {
        Poison poison = new Poison();
        poison.embedding = true;
        NonFiniteValueException e = failure(poison, request(Mode.REFERENCE).build());
        assertEquals(NonFiniteValueException.NO_STEP, e.stepIndex());
        assertEquals("text encoder", e.component());
        assertMentions(e, "text encoder", "prompt", "NaN", "before the first denoising step");
    }

    @Test
    void nanAttentionInAnItoPassNamesTheItoLossAndItsStep() {
        Poison poison = new Poison();
        poison.mapsAtTimestep = timestepOf(3);
        poison.mapsBatch = 2 * FINITE_DIFFERENCES.directions() + 1; // the finite-difference batch
        NonFiniteValueException e = failure(poison, request(Mode.REFERENCE).build());
        assertEquals(3, e.stepIndex());
        assertEquals("suppressed", e.branch());
        assertEquals("ITO loss", e.component());
        assertMentions(e, "ITO loss is NaN", "denoising step 3", "timestep " + timestepOf(3));
    }

    @Test
    void halfPrecisionIsNamedAsTheLikelyCause() {
        Poison poison = new Poison();
        poison.precision = Precision.FP16;
        poison.noiseAtTimestep = timestepOf(4);
        poison.noiseBatch = 4;
        poison.noiseElement = 0;
        poison.value = Float.NEGATIVE_INFINITY;
        NonFiniteValueException e = failure(poison, request(Mode.REFERENCE).build());
        assertEquals(4, e.stepIndex());
        assertEquals("original", e.branch());
        assertMentions(e, "unconditional pass of the original branch", "fp16", "65504", "try precision fp32");
    }

    @Test
    void overflowingGuidanceOfFiniteUNetOutputsNamesTheDdimStep() {
        Poison poison = new Poison();
        poison.noiseAtTimestep = timestepOf(0);
        poison.noiseBatch = 4;
        poison.noiseElement = 2;
        poison.value = 3e38f; // finite, but 7.5 times it overflows float32 in the guidance
        NonFiniteValueException e = failure(poison, request(Mode.REFERENCE).build());
        assertEquals(0, e.stepIndex());
        assertEquals("DDIM step (guidance and scheduler)", e.component());
        assertMentions(e, "after denoising step 0", "guidance");
    }

    @Test
    void nanImageNamesTheVaeDecoder() {
        Poison poison = new Poison();
        poison.image = true;
        NonFiniteValueException e = failure(poison, request(Mode.FAST).build());
        assertEquals("VAE decoder", e.component());
        assertMentions(e, "VAE decoder", "NaN");
    }

    @Test
    void aHealthyRunIsUntouched() {
        try (PoisonedBackend backend = new PoisonedBackend(new Poison())) {
            SuppressionPipeline pipeline = new SuppressionPipeline(backend, tokenizer, SCHEDULER, FINITE_DIFFERENCES);
            assertEquals(2, pipeline.generate(request(Mode.REFERENCE).build(), ProgressListener.NONE).itoSteps()
                    .size());
        }
    }

    /** Where to inject a non-finite value. */
    private static final class Poison {
        float value = Float.NaN;
        Precision precision = Precision.FP32;
        int noiseAtTimestep = -1;
        int noiseBatch;
        int noiseElement;
        int mapsAtTimestep = -1;
        int mapsBatch;
        boolean embedding;
        boolean image;
    }

    /** The fake backend with one value of one output replaced. */
    private static final class PoisonedBackend implements DiffusionBackend {
        private final FakeBackend fake = new FakeBackend();
        private final Poison poison;

        PoisonedBackend(Poison poison) {
            this.poison = poison;
        }

        /** Batch element {@code element}'s value at {@code offset} (its middle when negative) replaced. */
        private Tensor poisoned(Tensor tensor, int element, int offset) {
            float[] values = tensor.toArray();
            int perElement = values.length / tensor.dim(0);
            values[element * perElement + (offset < 0 ? perElement / 2 : offset)] = poison.value;
            return Tensor.wrapOwned(values, tensor.shape());
        }

        @Override
        public String name() {
            return "poisoned";
        }

        @Override
        public Precision precision() {
            return poison.precision;
        }

        @Override
        public TextEncoder textEncoder() {
            TextEncoder inner = fake.textEncoder();
            return new TextEncoder() {
                @Override
                public Tensor encode(int[] tokenIds) {
                    Tensor embedding = inner.encode(tokenIds);
                    boolean isPrompt = tokenIds[1] != tokenIds[2];
                    return poison.embedding && isPrompt ? poisoned(embedding.asBatchOfOne(), 0, -1).slice(0) : embedding;
                }

                @Override
                public int hiddenSize() {
                    return inner.hiddenSize();
                }

                @Override
                public void close() {
                    inner.close();
                }
            };
        }

        @Override
        public DenoiserWithAttention denoiser() {
            DenoiserWithAttention inner = fake.denoiser();
            return new DenoiserWithAttention() {
                @Override
                public UNetDescription description() {
                    return inner.description();
                }

                @Override
                public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts,
                                              AttentionCapture capture) {
                    DenoiserOutput output = inner.denoise(latents, timestep, contexts, capture);
                    int batch = latents.dim(0);
                    Tensor noise = output.noisePrediction();
                    AttentionMaps maps = output.attention();
                    if (timestep == poison.noiseAtTimestep && batch == poison.noiseBatch) {
                        noise = poisoned(noise, poison.noiseElement, -1);
                    }
                    if (timestep == poison.mapsAtTimestep && batch == poison.mapsBatch && maps != null) {
                        // pixel 0, key 3: a prompt token ("without"), which the loss reads
                        maps = new AttentionMaps(poisoned(maps.cross(), 0, 3), maps.self(), maps.raw());
                    }
                    return new DenoiserOutput(noise, maps);
                }

                @Override
                public void close() {
                    inner.close();
                }
            };
        }

        @Override
        public LatentDecoder decoder() {
            LatentDecoder inner = fake.decoder();
            return new LatentDecoder() {
                @Override
                public Tensor decode(Tensor latents) {
                    Tensor images = inner.decode(latents);
                    return poison.image ? poisoned(images, 0, -1) : images;
                }

                @Override
                public void close() {
                    inner.close();
                }
            };
        }

        @Override
        public Optional<LatentEncoder> encoder() {
            return Optional.empty();
        }

        @Override
        public Optional<GradientProbe> gradientProbe() {
            return Optional.empty();
        }

        @Override
        public void close() {
            fake.close();
        }
    }

    @Test
    void firstNonFiniteFindsTheFirstBadIndex() {
        float[] values = new float[12];
        Arrays.fill(values, 1f);
        values[7] = Float.NaN;
        values[9] = Float.POSITIVE_INFINITY;
        assertEquals(7, NumericalHealth.firstNonFinite(Tensor.wrapOwned(values, 3, 4)));
        assertEquals(-1, NumericalHealth.firstNonFinite(Tensor.zeros(2, 2)));
    }
}
