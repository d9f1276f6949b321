package dev.suppress.core.testing;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.AttentionObjective;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.ForwardExtent;
import dev.suppress.core.backend.GradientProbe;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.NoiseObjective;
import dev.suppress.core.backend.NoiseProbeResult;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.ProbeResult;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BiConsumer;

/**
 * A real backend with every network pass recorded, in order, by kind ({@link Pass}), and a hook called at the
 * start of each pass, inside it, on the generating thread: what a request that arrives while a pass runs looks
 * like to the run. Thread-safe.
 */
public final class CountingBackend implements DiffusionBackend {

    /** The kinds of network pass. */
    public enum Pass {
        TEXT_ENCODER, DENOISE, ATTENTION, PROBE, NOISE_PROBE, VAE_DECODE, VAE_ENCODE;

        /** Whether it is a UNet evaluation. */
        public boolean unet() {
            return this == DENOISE || this == ATTENTION || this == PROBE || this == NOISE_PROBE;
        }
    }

    private final DiffusionBackend backend;
    private final List<Pass> passes = new ArrayList<>();
    private volatile BiConsumer<Integer, Pass> hook = (index, pass) -> {
    };
    private int passesAtClose = -1;

    private CountingBackend(DiffusionBackend backend) {
        this.backend = backend;
    }

    /** A provider opening {@code provider}'s backend wrapped, handing each one opened to {@code opened}. */
    public static BackendProvider provider(BackendProvider provider, java.util.function.Consumer<CountingBackend> opened) {
        return new BackendProvider() {
            @Override
            public String name() {
                return provider.name();
            }

            @Override
            public DiffusionBackend open(BackendOptions options) {
                CountingBackend counting = new CountingBackend(provider.open(options));
                opened.accept(counting);
                return counting;
            }
        };
    }

    /** The hook, told the 0-based index of each pass in {@link #passes()} and its kind as it starts. */
    public void onPass(BiConsumer<Integer, Pass> hook) {
        this.hook = hook;
    }

    /** Every pass so far, in order. */
    public synchronized List<Pass> passes() {
        return List.copyOf(passes);
    }

    /** Forgets the passes so far. */
    public synchronized void reset() {
        passes.clear();
    }

    /** How many passes had started when {@link #close()} was called, or -1 before. */
    public synchronized int passesAtClose() {
        return passesAtClose;
    }

    private void start(Pass pass) {
        int index;
        synchronized (this) {
            if (passesAtClose >= 0) {
                throw new IllegalStateException("A " + pass + " pass started after the backend was closed");
            }
            index = passes.size();
            passes.add(pass);
        }
        hook.accept(index, pass);
    }

    @Override
    public String name() {
        return backend.name();
    }

    @Override
    public Precision precision() {
        return backend.precision();
    }

    @Override
    public TextEncoder textEncoder() {
        TextEncoder encoder = backend.textEncoder();
        return new TextEncoder() {
            @Override
            public Tensor encode(int[] tokenIds) {
                start(Pass.TEXT_ENCODER);
                return encoder.encode(tokenIds);
            }

            @Override
            public int hiddenSize() {
                return encoder.hiddenSize();
            }

            @Override
            public int maxLength() {
                return encoder.maxLength();
            }

            @Override
            public void close() {
                encoder.close();
            }
        };
    }

    @Override
    public DenoiserWithAttention denoiser() {
        DenoiserWithAttention denoiser = backend.denoiser();
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                return denoiser.description();
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                start(Pass.DENOISE);
                return denoiser.denoise(latents, timestep, contexts, capture);
            }

            @Override
            public AttentionMaps attention(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                start(Pass.ATTENTION);
                return denoiser.attention(latents, timestep, contexts, capture);
            }

            @Override
            public double attentionPassFraction(AttentionCapture capture, int latentSide) {
                return denoiser.attentionPassFraction(capture, latentSide);
            }

            @Override
            public void close() {
                denoiser.close();
            }
        };
    }

    @Override
    public LatentDecoder decoder() {
        LatentDecoder decoder = backend.decoder();
        return new LatentDecoder() {
            @Override
            public Tensor decode(Tensor latents) {
                start(Pass.VAE_DECODE);
                return decoder.decode(latents);
            }

            @Override
            public Tensor decode(Tensor latents, Runnable beforeEachPass) {
                return decoder.decode(latents, () -> {
                    beforeEachPass.run();
                    start(Pass.VAE_DECODE);
                });
            }

            @Override
            public void close() {
                decoder.close();
            }
        };
    }

    @Override
    public Optional<LatentEncoder> encoder() {
        return backend.encoder().map(encoder -> new LatentEncoder() {
            @Override
            public Tensor encode(Tensor images) {
                start(Pass.VAE_ENCODE);
                return encoder.encode(images);
            }

            @Override
            public void close() {
                encoder.close();
            }
        });
    }

    @Override
    public Optional<GradientProbe> gradientProbe() {
        return backend.gradientProbe().map(probe -> new GradientProbe() {
            @Override
            public ProbeResult probe(Tensor latent, int timestep, Tensor context, AttentionCapture capture,
                                     AttentionObjective objective, ForwardExtent extent) {
                start(Pass.PROBE);
                return probe.probe(latent, timestep, context, capture, objective, extent);
            }

            @Override
            public NoiseProbeResult noiseGradient(Tensor latent, int timestep, Tensor context,
                                                  NoiseObjective objective) {
                start(Pass.NOISE_PROBE);
                return probe.noiseGradient(latent, timestep, context, objective);
            }
        });
    }

    @Override
    public void close() {
        synchronized (this) {
            passesAtClose = passes.size();
        }
        backend.close();
    }
}
