package dev.suppress.core.testing;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.attention.ObjectiveGradient;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

import java.util.HashSet;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every backend's seams must do, whatever computes them (STYLE.md §6: one contract suite, subclassed once per
 * backend). Subclasses open the backend on the tiny fixture model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
public abstract class DiffusionBackendContract {

    /** Batch elements must not influence each other beyond float32 noise of batched kernels. */
    private static final TensorAssertions.Tolerance BATCH_INDEPENDENCE = new TensorAssertions.Tolerance(1e-4, 1e-5,
            "a batch of two vs two single passes: batched kernels sum in another order");

    private DiffusionBackend backend;

    /** Opens the backend under test on {@code fixtures/tiny-sd} (or its ONNX export). */
    protected abstract DiffusionBackend openBackend();

    @BeforeAll
    void open() {
        backend = openBackend();
    }

    @AfterAll
    void close() {
        if (backend != null) {
            backend.close();
        }
    }

    protected DiffusionBackend backend() {
        return backend;
    }

    private Tensor latents(int batch, long seed) {
        UNetDescription unet = backend.denoiser().description();
        Random random = new Random(seed);
        int size = batch * unet.inChannels() * unet.sampleSize() * unet.sampleSize();
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return Tensor.wrapOwned(values, batch, unet.inChannels(), unet.sampleSize(), unet.sampleSize());
    }

    private Tensor contexts(int batch) {
        Tensor[] rows = new Tensor[batch];
        for (int b = 0; b < batch; b++) {
            int[] ids = new int[77];
            java.util.Arrays.fill(ids, 49407);
            ids[0] = 49406;
            ids[1] = 320 + b * 100;
            ids[2] = 6116;
            rows[b] = backend.textEncoder().encode(ids);
        }
        return Tensor.stack(rows);
    }

    private AttentionCapture capture(HeadAveraging heads) {
        return AttentionCapture.reference(16, heads);
    }

    @Test
    void textEncoderGivesOneRowPerPosition() {
        int[] ids = new int[77];
        java.util.Arrays.fill(ids, 49407);
        ids[0] = 49406;
        Tensor embedding = backend.textEncoder().encode(ids);
        assertArrayEquals(new int[] {77, backend.textEncoder().hiddenSize()}, embedding.shape());
    }

    @Test
    void describesEveryAttentionLayerOnce() {
        UNetDescription unet = backend.denoiser().description();
        assertFalse(unet.attentionLayers().isEmpty());
        Set<AttentionLayerId> ids = new HashSet<>();
        for (AttentionLayerInfo layer : unet.attentionLayers()) {
            assertTrue(ids.add(layer.id()), "duplicate " + layer.id());
        }
        assertEquals(backend.textEncoder().hiddenSize(), unet.crossAttentionDim());
    }

    @Test
    void denoisesABatchAsSeparateSamples() {
        DenoiserWithAttention denoiser = backend.denoiser();
        Tensor latents = latents(2, 11);
        Tensor contexts = contexts(2);
        DenoiserOutput both = denoiser.denoise(latents, 501, contexts, capture(HeadAveraging.ALL_HEADS));
        assertArrayEquals(latents.shape(), both.noisePrediction().shape());
        for (int b = 0; b < 2; b++) {
            DenoiserOutput one = denoiser.denoise(latents.batchElement(b), 501, contexts.batchElement(b),
                    capture(HeadAveraging.ALL_HEADS));
            TensorAssertions.assertClose("noise of batch element " + b, one.noisePrediction(),
                    both.noisePrediction().batchElement(b), BATCH_INDEPENDENCE);
            TensorAssertions.assertClose("cross maps of batch element " + b, one.attention().cross(),
                    both.attention().cross().batchElement(b), BATCH_INDEPENDENCE);
        }
    }

    @Test
    void capturesProbabilityMapsOfTheRequestedShape() {
        AttentionMaps maps = backend.denoiser().denoise(latents(1, 12), 981, contexts(1),
                capture(HeadAveraging.FIRST_HALF_OF_HEADS)).attention();
        assertNotNull(maps);
        assertArrayEquals(new int[] {1, 16, 16, 77}, maps.cross().shape());
        assertArrayEquals(new int[] {1, 16, 16, 256}, maps.self().shape());
        assertRowsSumToOne("cross", maps.cross(), 77);
        assertRowsSumToOne("self", maps.self(), 256);
        AttentionMaps allHeads = backend.denoiser().denoise(latents(1, 12), 981, contexts(1),
                capture(HeadAveraging.ALL_HEADS)).attention();
        assertNotEquals(maps.cross(), allHeads.cross(), "head averaging must change the maps");
    }

    @Test
    void attentionOnlyPassGivesTheSameMaps() {
        Tensor latents = latents(1, 13);
        Tensor contexts = contexts(1);
        AttentionCapture capture = capture(HeadAveraging.FIRST_HALF_OF_HEADS);
        AttentionMaps full = backend.denoiser().denoise(latents, 741, contexts, capture).attention();
        AttentionMaps only = backend.denoiser().attention(latents, 741, contexts, capture);
        TensorAssertions.assertClose("cross", full.cross(), only.cross(), BATCH_INDEPENDENCE);
        TensorAssertions.assertClose("self", full.self(), only.self(), BATCH_INDEPENDENCE);
    }

    @Test
    void returnsRawProbabilitiesOfRequestedLayers() {
        UNetDescription unet = backend.denoiser().description();
        AttentionLayerInfo layer = unet.attentionLayers().get(unet.attentionLayers().size() / 2);
        AttentionMaps maps = backend.denoiser().denoise(latents(2, 14), 301, contexts(2),
                capture(HeadAveraging.ALL_HEADS).withRawLayers(Set.of(layer.id()))).attention();
        Tensor raw = maps.raw().get(layer.id());
        assertNotNull(raw, "raw probabilities of " + layer.id());
        int pixels = layer.resolution(unet.sampleSize()) * layer.resolution(unet.sampleSize());
        int keys = layer.id().kind() == dev.suppress.core.attention.AttentionKind.CROSS ? 77 : pixels;
        assertArrayEquals(new int[] {2 * layer.heads(), pixels, keys}, raw.shape());
        assertRowsSumToOne(layer.id().toString(), raw, keys);
    }

    @Test
    void decodesToImagesEightTimesLarger() {
        Tensor latents = latents(1, 15);
        Tensor images = backend.decoder().decode(latents);
        assertArrayEquals(new int[] {1, 3, latents.dim(2) * 8, latents.dim(3) * 8}, images.shape());
    }

    @Test
    void probeGradientMatchesFiniteDifferencesWhenPresent() {
        if (backend.gradientProbe().isEmpty()) {
            return;
        }
        GradientProbe probe = backend.gradientProbe().get();
        Tensor latent = latents(1, 16);
        Tensor context = contexts(1).slice(0);
        AttentionCapture capture = capture(HeadAveraging.FIRST_HALF_OF_HEADS);
        Random random = new Random(17);
        float[] crossWeights = new float[16 * 16 * 77];
        float[] selfWeights = new float[16 * 16 * 256];
        for (int i = 0; i < crossWeights.length; i++) {
            crossWeights[i] = (float) random.nextGaussian();
        }
        for (int i = 0; i < selfWeights.length; i++) {
            selfWeights[i] = (float) random.nextGaussian();
        }
        Tensor crossUpstream = Tensor.wrapOwned(crossWeights, 1, 16, 16, 77);
        Tensor selfUpstream = Tensor.wrapOwned(selfWeights, 1, 16, 16, 256);
        // a linear objective: sum(maps * weights), whose map gradient is the weights
        ProbeResult result = probe.probe(latent, 601, context, capture, maps -> new ObjectiveGradient(
                dot(maps.cross(), crossWeights) + dot(maps.self(), selfWeights), crossUpstream, selfUpstream));
        ProbeResult again = probe.probe(latent, 601, context, capture, maps -> new ObjectiveGradient(
                dot(maps.cross(), crossWeights) + dot(maps.self(), selfWeights), crossUpstream, selfUpstream));
        assertEquals(result.contextGradient(), again.contextGradient(), "gradients must not accumulate");
        float[] direction = new float[context.size()];
        for (int i = 0; i < direction.length; i++) {
            direction[i] = (float) random.nextGaussian();
        }
        double epsilon = 1e-2;
        double plus = linear(probe, latent, context, direction, epsilon, capture, crossWeights, selfWeights);
        double minus = linear(probe, latent, context, direction, -epsilon, capture, crossWeights, selfWeights);
        double numeric = (plus - minus) / (2 * epsilon);
        double analytic = dot(result.contextGradient(), direction);
        assertEquals(numeric, analytic, 2e-2 * Math.abs(numeric) + 1e-4,
                "directional derivative: autograd " + analytic + " vs central difference " + numeric);
    }

    @Test
    void noiseGradientMatchesFiniteDifferencesWhenPresent() {
        if (backend.gradientProbe().isEmpty()) {
            return;
        }
        GradientProbe probe = backend.gradientProbe().get();
        Tensor latent = latents(1, 18);
        Tensor context = contexts(1).slice(0);
        Random random = new Random(19);
        float[] weights = new float[latent.size()];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        Tensor upstream = Tensor.wrapOwned(weights, latent.shape());
        NoiseProbeResult result = probe.noiseGradient(latent, 401, context,
                noise -> new NoiseObjective.NoiseGradient(dot(noise, weights), upstream));
        TensorAssertions.assertClose("noise prediction of the probe",
                backend.denoiser().denoise(latent, 401, context.reshape(1, 77, context.dim(1)), null)
                        .noisePrediction(), result.noisePrediction(), BATCH_INDEPENDENCE);
        float[] direction = new float[context.size()];
        for (int i = 0; i < direction.length; i++) {
            direction[i] = (float) random.nextGaussian();
        }
        double epsilon = 1e-2;
        double plus = noiseDot(latent, context, direction, epsilon, weights);
        double minus = noiseDot(latent, context, direction, -epsilon, weights);
        double numeric = (plus - minus) / (2 * epsilon);
        double analytic = dot(result.contextGradient(), direction);
        assertEquals(numeric, analytic, 2e-2 * Math.abs(numeric) + 1e-4,
                "directional derivative of the noise: autograd " + analytic + " vs central difference " + numeric);
    }

    private double noiseDot(Tensor latent, Tensor context, float[] direction, double step, float[] weights) {
        float[] values = context.toArray();
        for (int i = 0; i < values.length; i++) {
            values[i] += (float) (step * direction[i]);
        }
        return dot(backend.denoiser().denoise(latent, 401, Tensor.wrapOwned(values, 1, context.dim(0),
                context.dim(1)), null).noisePrediction(), weights);
    }

    private double linear(GradientProbe probe, Tensor latent, Tensor context, float[] direction,
                          double step, AttentionCapture capture, float[] crossWeights, float[] selfWeights) {
        float[] values = context.toArray();
        for (int i = 0; i < values.length; i++) {
            values[i] += (float) (step * direction[i]);
        }
        AttentionMaps maps = backend.denoiser().attention(latent, 601,
                Tensor.wrapOwned(values, 1, context.dim(0), context.dim(1)), capture);
        return dot(maps.cross(), crossWeights) + dot(maps.self(), selfWeights);
    }

    private static double dot(Tensor tensor, float[] weights) {
        double sum = 0;
        for (int i = 0; i < weights.length; i++) {
            sum += (double) tensor.get(i) * weights[i];
        }
        return sum;
    }

    private static void assertRowsSumToOne(String name, Tensor maps, int keys) {
        float[] values = maps.toArray();
        for (int row = 0; row < values.length / keys; row++) {
            double sum = 0;
            for (int k = 0; k < keys; k++) {
                sum += values[row * keys + k];
            }
            assertEquals(1.0, sum, 1e-4, name + " row " + row + " is not a probability distribution");
        }
    }
}
