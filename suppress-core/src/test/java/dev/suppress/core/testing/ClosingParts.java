package dev.suppress.core.testing;

import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.DenoiserWithAttention;
import dev.suppress.core.backend.LatentDecoder;
import dev.suppress.core.backend.LatentEncoder;
import dev.suppress.core.backend.TextEncoder;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Backend parts that only close: each writes its name to one shared log, then throws its failure if it has one.
 * For the tests that a backend's {@code close()} closes every part in order even when some throw. Everything but
 * {@code close()} throws {@link UnsupportedOperationException}.
 */
public final class ClosingParts {

    private final List<String> closed = new ArrayList<>();

    /** The names of the parts closed so far, in closing order. */
    public List<String> closed() {
        return List.copyOf(closed);
    }

    /** @param failure thrown by {@code close()} after logging, or null */
    public TextEncoder textEncoder(String name, RuntimeException failure) {
        return new TextEncoder() {
            @Override
            public Tensor encode(int[] tokenIds) {
                throw new UnsupportedOperationException();
            }

            @Override
            public int hiddenSize() {
                return 1;
            }

            @Override
            public void close() {
                closing(name, failure);
            }
        };
    }

    /** @param failure thrown by {@code close()} after logging, or null */
    public DenoiserWithAttention denoiser(String name, RuntimeException failure) {
        return new DenoiserWithAttention() {
            @Override
            public UNetDescription description() {
                throw new UnsupportedOperationException();
            }

            @Override
            public DenoiserOutput denoise(Tensor latents, int timestep, Tensor contexts, AttentionCapture capture) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void close() {
                closing(name, failure);
            }
        };
    }

    /** @param failure thrown by {@code close()} after logging, or null */
    public LatentDecoder decoder(String name, RuntimeException failure) {
        return new LatentDecoder() {
            @Override
            public Tensor decode(Tensor latents) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void close() {
                closing(name, failure);
            }
        };
    }

    /** @param failure thrown by {@code close()} after logging, or null */
    public LatentEncoder encoder(String name, RuntimeException failure) {
        return new LatentEncoder() {
            @Override
            public Tensor encode(Tensor images) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void close() {
                closing(name, failure);
            }
        };
    }

    private void closing(String name, RuntimeException failure) {
        closed.add(name);
        if (failure != null) {
            throw failure;
        }
    }
}
