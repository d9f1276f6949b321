package dev.suppress.core.testing;

import dev.suppress.core.attention.AttentionAggregator;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.UNetPlace;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A small deterministic stand-in for a Stable Diffusion backend, for testing the pipeline's logic without a model:
 * smooth functions of the latent and the context with real softmax attention maps (so the attention loss has a
 * nonzero gradient), two heads, attention at two resolutions, no autograd probe (ITO uses finite differences).
 */
public final class FakeBackend implements DiffusionBackend {

    public static final int WIDTH = 8;
    public static final int CHANNELS = 4;
    public static final int SAMPLE_SIZE = 8;
    private static final int HEADS = 2;

    private final List<AttentionLayerInfo> layers = List.of(
            layer(UNetPlace.DOWN, AttentionKind.SELF, 0, 2), layer(UNetPlace.DOWN, AttentionKind.CROSS, 0, 2),
            layer(UNetPlace.MID, AttentionKind.SELF, 0, 4), layer(UNetPlace.MID, AttentionKind.CROSS, 0, 4),
            layer(UNetPlace.UP, AttentionKind.SELF, 0, 2), layer(UNetPlace.UP, AttentionKind.CROSS, 0, 2),
            layer(UNetPlace.UP, AttentionKind.SELF, 1, 1), layer(UNetPlace.UP, AttentionKind.CROSS, 1, 1));
    private boolean closed;
    private int closeCount;

    private static AttentionLayerInfo layer(UNetPlace place, AttentionKind kind, int order, int factor) {
        return new AttentionLayerInfo(new AttentionLayerId(place, kind, order), place + "." + kind + "." + order,
                factor, HEADS);
    }

    @Override
    public String name() {
        return "fake";
    }

    @Override
    public TextEncoder textEncoder() {
        return new TextEncoder() {
            @Override
            public Tensor encode(int[] tokenIds) {
                float[] out = new float[77 * WIDTH];
                for (int position = 0; position < 77; position++) {
                    for (int m = 0; m < WIDTH; m++) {
                        out[position * WIDTH + m] = (float) Math.sin(tokenIds[position] * 0.37 + position * 0.11
                                + m * 1.3) * (1 + m * 0.5f);
                    }
                }
                return Tensor.wrapOwned(out, 77, WIDTH);
            }

            @Override
            public int hiddenSize() {
                return WIDTH;
            }

            @Override
            public void close() {
            }
        };
    }

    @Override
    public DenoiserWithAttention denoiser() {
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                return new UNetDescription(CHANNELS, SAMPLE_SIZE, WIDTH, UNetDescription.PredictionType.EPSILON,
                        layers);
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                ensureOpen();
                int batch = latents.dim(0);
                int latentHeight = latents.dim(2);
                int latentWidth = latents.dim(3);
                float[] latent = latents.toArray();
                float[] context = contexts.toArray();
                int perSample = latent.length / batch;
                int perContext = context.length / batch;
                float[] noise = new float[latent.length];
                for (int b = 0; b < batch; b++) {
                    double contextMean = 0;
                    for (int i = 0; i < perContext; i++) {
                        contextMean += context[b * perContext + i] * ((i % 7) - 3);
                    }
                    contextMean /= perContext;
                    for (int i = 0; i < perSample; i++) {
                        noise[b * perSample + i] = (float) (0.3 * latent[b * perSample + i]
                                + 0.2 * Math.tanh(contextMean + i * 0.01) + timestep * 1e-4);
                    }
                }
                AttentionMaps maps = null;
                if (capture != null) {
                    Map<AttentionLayerId, Tensor> raw = new HashMap<>();
                    for (AttentionLayerInfo layer : layers) {
                        raw.put(layer.id(), probabilities(layer, latent, perSample, context, perContext, batch,
                                latentHeight, latentWidth));
                    }
                    maps = new AttentionAggregator(layers, latentHeight, latentWidth, capture).aggregate(raw);
                }
                return new DenoiserOutput(Tensor.wrapOwned(noise, latents.shape()), maps);
            }

            @Override
            public void close() {
            }
        };
    }

    /** Softmax maps {@code [batch*heads, pixels, keys]} that depend smoothly on the latent and the context. */
    private static Tensor probabilities(AttentionLayerInfo layer, float[] latent, int perSample, float[] context,
                                        int perContext, int batch, int latentHeight, int latentWidth) {
        int pixels = layer.resolution(latentHeight) * layer.resolution(latentWidth);
        boolean cross = layer.id().kind() == AttentionKind.CROSS;
        int keys = cross ? 77 : pixels;
        float[] out = new float[batch * HEADS * pixels * keys];
        double[] logits = new double[keys];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < HEADS; h++) {
                for (int p = 0; p < pixels; p++) {
                    double pixelFeature = latent[b * perSample + (p * 7 + h) % perSample];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int k = 0; k < keys; k++) {
                        double logit;
                        if (cross) {
                            int m = (p + h) % WIDTH;
                            logit = context[b * perContext + k * WIDTH + m] * (0.5 + 0.3 * pixelFeature)
                                    + 0.1 * Math.cos(k + p);
                        } else {
                            double contextTerm = context[b * perContext + (k % 77) * WIDTH + (p % WIDTH)];
                            logit = 0.4 * pixelFeature * latent[b * perSample + (k * 5 + h) % perSample]
                                    + 0.2 * contextTerm;
                        }
                        logits[k] = logit;
                        max = Math.max(max, logit);
                    }
                    double sum = 0;
                    for (int k = 0; k < keys; k++) {
                        logits[k] = Math.exp(logits[k] - max);
                        sum += logits[k];
                    }
                    int row = ((b * HEADS + h) * pixels + p) * keys;
                    for (int k = 0; k < keys; k++) {
                        out[row + k] = (float) (logits[k] / sum);
                    }
                }
            }
        }
        return Tensor.wrapOwned(out, batch * HEADS, pixels, keys);
    }

    @Override
    public LatentDecoder decoder() {
        return new LatentDecoder() {
            @Override
            public Tensor decode(Tensor latents) {
                ensureOpen();
                int batch = latents.dim(0);
                int height = latents.dim(2) * 8;
                int width = latents.dim(3) * 8;
                float[] values = latents.toArray();
                int perSample = values.length / batch;
                int perImage = 3 * height * width;
                float[] out = new float[batch * perImage];
                for (int i = 0; i < out.length; i++) {
                    int b = i / perImage;
                    out[i] = (float) Math.tanh(values[b * perSample + (i % perImage) % perSample]);
                }
                return Tensor.wrapOwned(out, batch, 3, height, width);
            }

            @Override
            public void close() {
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

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("fake backend closed");
        }
    }

    /** How many times {@link #close()} was called. */
    public int closeCount() {
        return closeCount;
    }

    @Override
    public void close() {
        closed = true;
        closeCount++;
    }
}
