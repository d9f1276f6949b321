package dev.suppress.benchmarks;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.internal.schedule.TorchGaussianNoise;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;
import dev.suppress.djl.DjlDiffusionBackend;

import java.util.Arrays;

/**
 * The fixture model ({@code tiny-sd}) on DJL's CPU engine with the inputs of one ITO step of the reference run:
 * "a man without glasses", "glasses" suppressed, the seed-2023 initial latent, the 16×16 reference capture.
 */
final class TinyDjlModel implements AutoCloseable {

    static final String PROMPT = "a man without glasses";
    static final int[] NEGATIVE_TOKENS = {4};
    /** A mid-schedule timestep (the UNet's cost does not depend on it). */
    static final int TIMESTEP = 501;
    static final long SEED = 2023;

    final DjlDiffusionBackend backend;
    /** n of the prompt: SOT, the prompt tokens, the first EOT. */
    final int promptLength;
    /** The prompt's embedding {@code [77, M]}. */
    final Tensor context;
    /** Its soft-weighted regularization, ITO's starting point {@code [77, M]}. */
    final Tensor erasedContext;
    /** {@code [1, 4, h, w]}. */
    final Tensor latent;
    /** The ITO capture: 16×16 cross maps of up and down, self maps of up, down and mid, first half of the heads. */
    final AttentionCapture capture;

    private TinyDjlModel(DjlDiffusionBackend backend, int promptLength, Tensor context, Tensor erasedContext, Tensor latent,
                         AttentionCapture capture) {
        this.backend = backend;
        this.promptLength = promptLength;
        this.context = context;
        this.erasedContext = erasedContext;
        this.latent = latent;
        this.capture = capture;
    }

    /** Loads the model and prepares the inputs. */
    static TinyDjlModel open() {
        ClipTokenizer tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
        DjlDiffusionBackend backend = DjlDiffusionBackend.open(BackendOptions.cpu(Fixtures.tinyModel()));
        try {
            TokenizedPrompt prompt = tokenizer.tokenize(PROMPT);
            Tensor context = backend.textEncoder().encode(prompt.inputIds());
            Tensor erased = SoftWeightedRegularization.softWeight(1.0).apply(context, NEGATIVE_TOKENS,
                    prompt.length());
            int side = backend.denoiser().description().sampleSize();
            Tensor latent = TorchGaussianNoise.randn(SEED, 1, backend.denoiser().description().inChannels(), side,
                    side);
            return new TinyDjlModel(backend, prompt.length(), context, erased, latent,
                    AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS));
        } catch (RuntimeException e) {
            backend.close();
            throw e;
        }
    }

    /** {@code batch} copies of the latent, {@code [batch, 4, h, w]}. */
    Tensor latents(int batch) {
        Tensor[] parts = new Tensor[batch];
        Arrays.fill(parts, latent);
        return Tensor.concat(parts);
    }

    /** {@code batch} copies of the prompt's embedding, {@code [batch, 77, M]}. */
    Tensor contexts(int batch) {
        Tensor[] parts = new Tensor[batch];
        Arrays.fill(parts, context);
        return Tensor.stack(parts);
    }

    @Override
    public void close() {
        backend.close();
    }
}
