package dev.suppress.onnx;

import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.testing.CountingBackend;
import dev.suppress.core.testing.CountingBackend.Pass;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cancellation on ONNX Runtime: a request that arrives while a pass runs (a denoising pass, a finite-difference
 * ITO batch, the VAE encoder, a DDIM inversion pass) stops the run when that pass returns, and the next run on
 * the same suppressor gives what the fresh one gave.
 */
class OrtLifecycleTest {

    /** Latent 16x16, 6 steps, reference mode: ITO at step 1 by finite differences (2 iterations, 3 batches). */
    private static final SuppressionRequest REQUEST = SuppressionRequest.builder("a man without glasses")
            .suppress("glasses").seed(11).steps(6).itoIterations(2).imageSize(128).mode(Mode.REFERENCE).build();

    private static final List<CountingBackend> opened = new ArrayList<>();
    private static Suppressor suppressor;
    private static CountingBackend backend;

    @BeforeAll
    static void load() {
        suppressor = Suppressor.builder().backend(CountingBackend.provider(new OnnxBackendProvider(), opened::add))
                .modelFolder(Fixtures.path("tiny-sd-onnx"))
                .tokenizerFolder(Fixtures.tinyModel().resolve("tokenizer"))
                .schedulerConfig(Fixtures.tinyModel().resolve("scheduler/scheduler_config.json")).build();
        backend = opened.get(0);
    }

    @AfterAll
    static void close() {
        suppressor.close();
    }

    private static final class Cancellable implements ProgressListener {
        volatile boolean cancel;

        @Override
        public boolean cancelRequested() {
            return cancel;
        }
    }

    private static int indexOf(List<Pass> passes, Pass kind, int occurrence) {
        int seen = 0;
        for (int i = 0; i < passes.size(); i++) {
            if (passes.get(i) == kind && seen++ == occurrence) {
                return i;
            }
        }
        throw new AssertionError("No " + kind + " #" + occurrence + " in " + passes);
    }

    /** Runs {@code run} fresh, then cancelled inside each of the passes {@code points} picks, then again. */
    private static <T> void cancelEverywhere(java.util.function.Function<ProgressListener, T> run,
                                             java.util.function.Function<List<Pass>, List<Integer>> points,
                                             java.util.function.BiConsumer<T, T> sameResult) {
        backend.reset();
        T fresh = run.apply(ProgressListener.NONE);
        List<Pass> passes = backend.passes();
        for (int at : points.apply(passes)) {
            Cancellable listener = new Cancellable();
            backend.reset();
            backend.onPass((index, pass) -> {
                if (index == at) {
                    listener.cancel = true;
                }
            });
            GenerationCancelledException cancelled = assertThrows(GenerationCancelledException.class,
                    () -> run.apply(listener));
            assertTrue(cancelled.getMessage().startsWith("Cancelled before"), cancelled.getMessage());
            assertEquals(at + 1, backend.passes().size(), "cancel during pass " + at + " (" + passes.get(at)
                    + "): " + backend.passes());
            backend.onPass((index, pass) -> {
            });
        }
        backend.reset();
        T again = run.apply(ProgressListener.NONE);
        assertEquals(passes, backend.passes());
        sameResult.accept(fresh, again);
    }

    @Test
    void aCancelDuringAGenerationStopsWhenThePassReturns() {
        cancelEverywhere(listener -> suppressor.generate(REQUEST, listener),
                passes -> List.of(indexOf(passes, Pass.TEXT_ENCODER, 0), indexOf(passes, Pass.DENOISE, 0),
                        indexOf(passes, Pass.ATTENTION, 0), indexOf(passes, Pass.ATTENTION, 1),
                        indexOf(passes, Pass.DENOISE, 5)),
                (SuppressionResult fresh, SuppressionResult again) -> {
                    assertEquals(fresh.originalLatent(), again.originalLatent());
                    assertEquals(fresh.suppressedLatent(), again.suppressedLatent());
                    assertEquals(fresh.suppressedImage(), again.suppressedImage());
                });
    }

    @Test
    void aCancelDuringANegativePromptEditStopsWhenThePassReturns() {
        ImageEditRequest edit = ImageEditRequest.builder(Images.read(Fixtures.path("real/input.png")),
                        "a red house with a tree under the sun").suppress("tree").inversion(Inversion.NEGATIVE_PROMPT)
                .suppression(options -> options.steps(4).itoIterations(1).imageSize(128).mode(Mode.REFERENCE))
                .build();
        cancelEverywhere(listener -> suppressor.edit(edit, listener),
                passes -> List.of(indexOf(passes, Pass.VAE_ENCODE, 0), indexOf(passes, Pass.DENOISE, 1)),
                (ImageEditResult fresh, ImageEditResult again) -> assertEquals(
                        fresh.suppression().suppressedLatent(), again.suppression().suppressedLatent()));
    }
}
