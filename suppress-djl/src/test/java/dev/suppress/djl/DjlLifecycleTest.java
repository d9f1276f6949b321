package dev.suppress.djl;

import ai.djl.ndarray.NDManager;
import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.testing.CountingBackend;
import dev.suppress.core.testing.CountingBackend.Pass;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Cancellation, close during a run, several threads, and native memory across runs, on the tiny fixture model:
 * a cancel request that arrives while a network pass runs stops the run when that pass returns, whatever the
 * phase (denoising, ITO probe, DDIM inversion, null-text inner loop, VAE decode), leaves no NDArray behind, and
 * the next run gives what a fresh run gives.
 */
class DjlLifecycleTest {

    /** Latent 8x8 (64 px), 6 steps, reference mode: ITO at step 1 (2 probes), about 20 UNet passes. */
    private static final SuppressionRequest REQUEST = SuppressionRequest.builder("a man without glasses")
            .suppress("glasses").seed(11).steps(6).itoIterations(2).imageSize(64).mode(Mode.REFERENCE).build();

    private static final List<CountingBackend> opened = new ArrayList<>();
    private static Suppressor suppressor;
    private static CountingBackend backend;
    /** REQUEST on the fresh suppressor, and the passes it made. */
    private static SuppressionResult fresh;
    private static List<Pass> freshPasses;

    @BeforeAll
    static void load() {
        suppressor = open();
        backend = opened.get(opened.size() - 1);
        fresh = suppressor.generate(REQUEST);
        freshPasses = backend.passes();
    }

    @AfterAll
    static void close() {
        suppressor.close();
    }

    private static Suppressor open() {
        return Suppressor.builder().backend(CountingBackend.provider(new DjlBackendProvider(), opened::add))
                .modelFolder(Fixtures.tinyModel()).build();
    }

    /** A listener whose cancel flag any thread may raise. */
    private static final class Cancellable implements ProgressListener {
        volatile boolean cancel;

        @Override
        public boolean cancelRequested() {
            return cancel;
        }
    }

    /** Every NDArray alive in the PyTorch engine: the weights of every open model part plus any leak. */
    private static int liveArrays() {
        try (NDManager probe = NDManager.newBaseManager(ai.djl.Device.cpu(), "PyTorch")) {
            return probe.getParentManager().getManagedArrays().size();
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

    /** Raises the cancel flag inside pass {@code at}; returns the passes the run made. */
    private static List<Pass> cancelAt(int at, Runnable run, Cancellable listener) {
        backend.reset();
        backend.onPass((index, pass) -> {
            if (index == at) {
                listener.cancel = true;
            }
        });
        try {
            GenerationCancelledException cancelled = assertThrows(GenerationCancelledException.class, run::run);
            assertTrue(cancelled.getMessage().startsWith("Cancelled before"), cancelled.getMessage());
            return backend.passes();
        } finally {
            backend.onPass((index, pass) -> {
            });
        }
    }

    @Test
    void aCancelDuringAnyPassStopsWhenThatPassReturnsAndTheNextRunIsAsFresh() {
        int baseline = liveArrays();
        List<Integer> cancelPoints = List.of(indexOf(freshPasses, Pass.DENOISE, 0), indexOf(freshPasses, Pass.PROBE, 0),
                indexOf(freshPasses, Pass.PROBE, 1), indexOf(freshPasses, Pass.DENOISE, 5),
                indexOf(freshPasses, Pass.VAE_DECODE, 0));
        for (int at : cancelPoints) {
            Cancellable listener = new Cancellable();
            List<Pass> ran = cancelAt(at, () -> suppressor.generate(REQUEST, listener), listener);
            // the pass during which the request came finished; none started after it
            assertEquals(at + 1, ran.size(), "cancel during pass " + at + " (" + freshPasses.get(at) + "): " + ran);
            assertEquals(baseline, liveArrays(), "NDArrays left after a cancel during pass " + at);
        }
        backend.reset();
        SuppressionResult again = suppressor.generate(REQUEST);
        assertEquals(freshPasses, backend.passes());
        assertEquals(fresh.originalLatent(), again.originalLatent());
        assertEquals(fresh.suppressedLatent(), again.suppressedLatent());
        assertEquals(fresh.suppressedImage(), again.suppressedImage());
        assertEquals(baseline, liveArrays(), "NDArrays left after a generation");
    }

    @Test
    void aCancelDuringAnEditStopsInDdimInversionAndInTheNullTextInnerLoop() {
        ImageEditRequest edit = ImageEditRequest.builder(Images.read(Fixtures.path("real/input.png")),
                        "a red house with a tree under the sun").suppress("tree")
                .nullText(new NullTextOptions(3, 0, 1e-2))
                .suppression(options -> options.steps(4).itoIterations(1).imageSize(64).mode(Mode.REFERENCE))
                .build();
        int baseline = liveArrays();
        backend.reset();
        ImageEditResult reference = suppressor.edit(edit);
        List<Pass> passes = backend.passes();
        // DDIM inversion's second pass, then the second null-text step's second probe
        int inversion = indexOf(passes, Pass.DENOISE, 1);
        int innerLoop = indexOf(passes, Pass.NOISE_PROBE, 4);
        assertTrue(inversion < indexOf(passes, Pass.NOISE_PROBE, 0), passes.toString());
        for (int at : List.of(indexOf(passes, Pass.VAE_ENCODE, 0), inversion, innerLoop)) {
            Cancellable listener = new Cancellable();
            List<Pass> ran = cancelAt(at, () -> suppressor.edit(edit, listener), listener);
            assertEquals(at + 1, ran.size(), "cancel during pass " + at + " (" + passes.get(at) + "): " + ran);
            assertEquals(baseline, liveArrays(), "NDArrays left after a cancel during pass " + at);
        }
        ImageEditResult again = suppressor.edit(edit);
        assertEquals(reference.suppression().suppressedLatent(), again.suppression().suppressedLatent());
        assertEquals(baseline, liveArrays(), "NDArrays left after an edit");
    }

    @Test
    void closeDuringARunStopsItBeforeTheNextPassWaitsForItAndRefusesLaterCalls() throws Exception {
        Suppressor closing = open();
        CountingBackend closingBackend = opened.get(opened.size() - 1);
        int stopAt = indexOf(freshPasses, Pass.PROBE, 0);
        CountDownLatch inPass = new CountDownLatch(1);
        CountDownLatch closeCalled = new CountDownLatch(1);
        closingBackend.onPass((index, pass) -> {
            if (index == stopAt) {
                inPass.countDown();
                await(closeCalled);
            }
        });
        ExecutorService threads = Executors.newFixedThreadPool(2);
        try {
            Future<SuppressionResult> run = threads.submit(() -> closing.generate(REQUEST));
            assertTrue(inPass.await(60, TimeUnit.SECONDS), "the run reached pass " + stopAt);
            AtomicReference<Thread> closer = new AtomicReference<>();
            Future<?> close = threads.submit(() -> {
                closer.set(Thread.currentThread());
                closing.close();
            });
            // close() has set its flag and waits for the run's lock (it must not return while the run is in a pass)
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (closer.get() == null || closer.get().getState() != Thread.State.BLOCKED) {
                assertTrue(!close.isDone(), "close() returned while the run was inside a UNet pass");
                assertTrue(System.nanoTime() < deadline, "close() never waited for the run");
                Thread.sleep(1);
            }
            closeCalled.countDown();
            java.util.concurrent.ExecutionException failed = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> run.get(60, TimeUnit.SECONDS));
            assertTrue(failed.getCause() instanceof IllegalStateException, failed.getCause().toString());
            assertTrue(failed.getCause().getMessage().startsWith("This Suppressor was closed during the run"),
                    failed.getCause().getMessage());
            close.get(60, TimeUnit.SECONDS);
            // the backend was closed after the pass in flight returned, and no pass started after it
            assertEquals(stopAt + 1, closingBackend.passesAtClose());
            IllegalStateException later = assertThrows(IllegalStateException.class, () -> closing.generate(REQUEST));
            assertEquals("This Suppressor is closed", later.getMessage());
        } finally {
            threads.shutdownNow();
            closing.close();
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void threeThreadsGetWhatOneThreadGetsInTurn() throws Exception {
        List<SuppressionRequest> requests = List.of(REQUEST, REQUEST.toBuilder().seed(12).build(),
                REQUEST.toBuilder().seed(13).mode(Mode.FAST).build());
        List<SuppressionResult> sequential = new ArrayList<>();
        for (SuppressionRequest request : requests) {
            sequential.add(suppressor.generate(request));
        }
        ExecutorService threads = Executors.newFixedThreadPool(requests.size());
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<SuppressionResult>> concurrent = new ArrayList<>();
            for (SuppressionRequest request : requests) {
                concurrent.add(threads.submit(() -> {
                    start.await();
                    return suppressor.generate(request);
                }));
            }
            start.countDown();
            for (int i = 0; i < requests.size(); i++) {
                SuppressionResult result = concurrent.get(i).get(120, TimeUnit.SECONDS);
                assertEquals(sequential.get(i).originalLatent(), result.originalLatent(), "request " + i);
                assertEquals(sequential.get(i).suppressedLatent(), result.suppressedLatent(), "request " + i);
            }
        } finally {
            threads.shutdownNow();
        }
    }
}
