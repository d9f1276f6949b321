package dev.suppress.core;

import dev.suppress.core.GenerationCancelledException;
import dev.suppress.core.Mode;
import dev.suppress.core.ProgressListener;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.ito.FastItoOptions;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.testing.CountingBackend;
import dev.suppress.core.testing.FakeBackend;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.RecordingListener;
import dev.suppress.core.testing.WorkAssertions;
import dev.suppress.core.text.ClipTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The schedule of ALGORITHM.md §3 on a stand-in backend: which steps do what, and what it costs. */
class SuppressionPipelineTest {

    private static final String PROMPT = "a man without glasses";
    private static final FiniteDifferenceOptions FINITE_DIFFERENCES =
            new FiniteDifferenceOptions(FiniteDifferenceOptions.Subspace.PROMPT_ROWS, 2, 1e-2, 0);
    private static ClipTokenizer tokenizer;

    @BeforeAll
    static void loadTokenizer() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    private static SuppressionPipeline pipeline(DiffusionBackend backend) {
        return new SuppressionPipeline(backend, tokenizer, SchedulerConfig.suppressEotReference(), FINITE_DIFFERENCES);
    }

    /** 10 steps, τ = 0.8: SWR from step 2; ITO (2 iterations) at steps 2 and 3. */
    private static SuppressionRequest.Builder request() {
        return SuppressionRequest.builder(PROMPT).suppress("glasses").seed(7).steps(10).tau(0.8).maxItoStep(4)
                .itoIterations(2).mode(Mode.REFERENCE);
    }

    /** Fast ITO whose warm steps take their whole budget (FIXED does not stop early), so the passes are known. */
    private static final FastItoOptions WHOLE_BUDGET = new FastItoOptions(true, 10, FastItoOptions.StepRule.FIXED, 4,
            FastItoOptions.StepRule.FIXED, 0.02, 10);

    private record Recorded(List<ProgressListener.DenoisingStep> steps, List<ProgressListener.ItoIteration> ito,
                            SuppressionResult result) {
    }

    private static Recorded run(SuppressionRequest request) {
        RecordingListener recording = new RecordingListener();
        SuppressionResult result = pipeline(new FakeBackend()).generate(request, recording);
        return new Recorded(recording.steps(), recording.iterations(), result);
    }

    @Test
    void followsTheReferenceSchedule() {
        Recorded run = run(request().build());
        List<ProgressListener.Phase> phases = run.steps().stream().map(ProgressListener.DenoisingStep::phase).toList();
        assertEquals(List.of(ProgressListener.Phase.SHARED, ProgressListener.Phase.SHARED,
                ProgressListener.Phase.OPTIMISED, ProgressListener.Phase.OPTIMISED,
                ProgressListener.Phase.REGULARISED, ProgressListener.Phase.REGULARISED,
                ProgressListener.Phase.REGULARISED, ProgressListener.Phase.REGULARISED,
                ProgressListener.Phase.REGULARISED, ProgressListener.Phase.REGULARISED), phases);
        assertEquals(4, run.ito().size());
        assertEquals(List.of(2, 2, 3, 3), run.ito().stream().map(ProgressListener.ItoIteration::stepIndex).toList());
        assertEquals(2, run.result().itoSteps().size());
        assertEquals(2, run.result().itoSteps().get(0).stepIndex());
        assertArrayEquals(new int[] {4}, run.result().suppressedTokens().stream().mapToInt(Integer::intValue)
                .toArray());
    }

    @Test
    void branchesAreIdenticalBeforeTauAndDepartAfter() {
        Recorded run = run(request().build());
        for (ProgressListener.DenoisingStep step : run.steps()) {
            if (step.phase() == ProgressListener.Phase.SHARED) {
                assertEquals(step.originalLatent(), step.suppressedLatent(), "step " + step.stepIndex());
            }
        }
        ProgressListener.DenoisingStep last = run.steps().get(run.steps().size() - 1);
        assertNotEquals(last.originalLatent(), last.suppressedLatent());
        assertNotEquals(run.result().originalImage(), run.result().suppressedImage());
    }

    @Test
    void recomputesSwrFromTheOriginalEmbeddingAtEveryStep() {
        Recorded run = run(request().build());
        FakeBackend backend = new FakeBackend();
        Tensor embedding = backend.textEncoder().encode(tokenizer.tokenize(PROMPT).inputIds());
        Tensor expected = SoftWeightedRegularization.softWeight(1.0).apply(embedding, new int[] {4},
                tokenizer.tokenize(PROMPT).length());
        for (ProgressListener.DenoisingStep step : run.steps()) {
            switch (step.phase()) {
                case SHARED -> assertEquals(embedding, step.erasedEmbedding(), "step " + step.stepIndex());
                case REGULARISED -> assertEquals(expected, step.erasedEmbedding(), "step " + step.stepIndex());
                case OPTIMISED -> {
                    assertNotEquals(expected, step.erasedEmbedding(), "step " + step.stepIndex());
                    // the ITO result of the step is what the suppressed branch used
                    ProgressListener.ItoIteration lastIteration = run.ito().stream()
                            .filter(it -> it.stepIndex() == step.stepIndex()).reduce((a, b) -> b).orElseThrow();
                    assertEquals(lastIteration.embedding(), step.erasedEmbedding());
                }
            }
        }
    }

    @Test
    void countsTheUNetWork() {
        Recorded run = run(request().build());
        // 10 steps x batch of 4, plus one reference pass per ITO step; finite differences with K = 2 directions
        // cost 2K + 1 = 5 attention passes per iteration, 2 iterations at 2 steps.
        WorkAssertions.assertPasses(10 * 4 + 2, 2 * 2 * 5, 0, run.result().work());
        assertEquals(62, run.result().work().evaluations());
    }

    @Test
    void withoutItoOnlyRegularises() {
        Recorded run = run(request().itoIterations(0).build());
        assertTrue(run.result().itoSteps().isEmpty());
        WorkAssertions.assertPasses(40, 0, 0, run.result().work());
        assertTrue(run.steps().stream().noneMatch(step -> step.phase() == ProgressListener.Phase.OPTIMISED));
    }

    @Test
    void strengtheningUsesTheStrengtheningRegularization() {
        Recorded run = run(request().strengthen().build());
        FakeBackend backend = new FakeBackend();
        Tensor embedding = backend.textEncoder().encode(tokenizer.tokenize(PROMPT).inputIds());
        Tensor expected = SoftWeightedRegularization.strengthen().apply(embedding, new int[] {4}, 6);
        assertEquals(expected, run.steps().get(5).erasedEmbedding());
        assertTrue(run.result().itoSteps().isEmpty(), "strengthening turns ITO off, as the reference's examples do");
    }

    @Test
    void sameRequestSameResult() {
        SuppressionResult first = run(request().build()).result();
        SuppressionResult second = run(request().build()).result();
        assertEquals(first.suppressedLatent(), second.suppressedLatent());
        assertEquals(first.originalLatent(), second.originalLatent());
    }

    @Test
    void picksTheAttentionLevelNearestTo16UnlessAsked() {
        assertEquals(8, run(request().itoIterations(0).build()).result().attentionResolution());
        assertEquals(4, run(request().itoIterations(1).attentionResolution(4).build()).result()
                .attentionResolution());
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> run(request().attentionResolution(2).build()));
        assertTrue(error.getMessage().contains("available: [4, 8]"), error.getMessage());
    }

    @Test
    void wordNotInThePromptIsNamed() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> run(SuppressionRequest.builder(PROMPT).suppress("hat").steps(5).build()));
        assertTrue(error.getMessage().contains("hat"), error.getMessage());
    }

    @Test
    void listenerCanCancel() {
        FakeBackend backend = new FakeBackend();
        List<Integer> seen = new ArrayList<>();
        GenerationCancelledException cancelled = assertThrows(GenerationCancelledException.class,
                () -> pipeline(backend).generate(request().build(), new ProgressListener() {
                    @Override
                    public Progress onDenoisingStep(DenoisingStep step) {
                        seen.add(step.stepIndex());
                        return step.stepIndex() == 1 ? Progress.CANCEL : Progress.CONTINUE;
                    }
                }));
        assertEquals(List.of(0, 1), seen);
        assertTrue(cancelled.getMessage().contains("step 1"), cancelled.getMessage());
        GenerationCancelledException duringIto = assertThrows(GenerationCancelledException.class,
                () -> pipeline(backend).generate(request().build(), new ProgressListener() {
                    @Override
                    public Progress onItoIteration(ItoIteration iteration) {
                        return Progress.CANCEL;
                    }
                }));
        assertTrue(duringIto.getMessage().contains("ITO at denoising step 2"), duringIto.getMessage());
    }

    @Test
    void aCancelRequestedDuringAnyPassStopsTheRunWhenThatPassReturns() {
        CountingBackend backend = (CountingBackend) CountingBackend.provider(new BackendProvider() {
            @Override
            public String name() {
                return "fake";
            }

            @Override
            public DiffusionBackend open(BackendOptions options) {
                return new FakeBackend();
            }
        }, opened -> {
        }).open(null);
        SuppressionPipeline pipeline = pipeline(backend);
        for (SuppressionRequest request : List.of(request().build(),
                request().mode(Mode.FAST).itoAudit(true).build())) {
            backend.reset();
            SuppressionResult fresh = pipeline.generate(request, ProgressListener.NONE);
            List<CountingBackend.Pass> passes = backend.passes();
            assertTrue(passes.contains(CountingBackend.Pass.ATTENTION), passes.toString());
            // every pass of the run, the audit's included
            for (int at = 0; at < passes.size(); at++) {
                int cancelAt = at;
                boolean[] cancel = {false};
                backend.reset();
                backend.onPass((index, pass) -> cancel[0] |= index == cancelAt);
                ProgressListener listener = new ProgressListener() {
                    @Override
                    public boolean cancelRequested() {
                        return cancel[0];
                    }
                };
                if (at == passes.size() - 1) {
                    // the request came during the last pass: nothing was left to stop
                    pipeline.generate(request, listener);
                } else {
                    assertThrows(GenerationCancelledException.class, () -> pipeline.generate(request, listener));
                }
                assertEquals(passes.subList(0, at + 1), backend.passes(), "cancelled during pass " + at);
            }
            backend.onPass((index, pass) -> {
            });
            assertEquals(fresh.suppressedLatent(), pipeline.generate(request, ProgressListener.NONE)
                    .suppressedLatent());
        }
    }

    @Test
    void initialLatentOverridesTheSeed() {
        Tensor latent = Tensor.zeros(1, 4, 8, 8);
        SuppressionResult fromZero = run(request().initialLatent(latent).seed(1).build()).result();
        SuppressionResult fromZeroOtherSeed = run(request().initialLatent(latent).seed(2).build()).result();
        assertEquals(fromZero.originalLatent(), fromZeroOtherSeed.originalLatent());
        IllegalArgumentException wrongChannels = assertThrows(IllegalArgumentException.class,
                () -> run(request().initialLatent(Tensor.zeros(1, 3, 8, 8)).build()));
        assertTrue(wrongChannels.getMessage().contains("3 channels"), wrongChannels.getMessage());
    }

    @Test
    void fastModeComputesTheSharedStepsOnceAndStopsTheOriginalBranchWhenAsked() {
        Recorded run = run(request().mode(Mode.FAST).suppressedOnly(true).fastIto(WHOLE_BUDGET).build());
        // steps 0-1 shared (batch 2); 2-3 optimised: original [uncond, cond] + suppressed [uncond, cond]; 4-9 the
        // suppressed branch alone. ITO: 2 updates at each optimised step, each 2K + 1 = 5 finite-difference passes,
        // and one pass for the last iterate's loss.
        WorkAssertions.assertPasses(2 * 2 + 2 * 4 + 6 * 2, 2 * (2 * 5 + 1), 0, run.result().work());
        assertFalse(run.result().hasOriginal());
        assertEquals(run.result().suppressed().getWidth(), run.result().sideBySide().getWidth());
        assertThrows(IllegalStateException.class, () -> run.result().original());
        for (ProgressListener.DenoisingStep step : run.steps()) {
            assertEquals(step.stepIndex() >= 4, step.originalLatent() == null, "step " + step.stepIndex());
        }
    }

    @Test
    void fastModeWarmStartsEachStepFromThePreviousStepsResult() {
        Recorded run = run(request().mode(Mode.FAST).fastIto(WHOLE_BUDGET).build());
        ProgressListener.DenoisingStep step2 = run.steps().get(2);
        ProgressListener.ItoIteration firstOfStep3 = run.ito().stream().filter(it -> it.stepIndex() == 3)
                .findFirst().orElseThrow();
        assertEquals(step2.erasedEmbedding(), firstOfStep3.evaluated());
        // the step uses its best iterate: the lowest loss it evaluated, reported as its last loss
        for (SuppressionResult.ItoStep step : run.result().itoSteps()) {
            double[] losses = step.losses();
            double best = Double.POSITIVE_INFINITY;
            for (int i = 0; i < losses.length - 1; i++) {
                best = Math.min(best, losses[i]);
            }
            assertEquals(best, step.lastLoss());
        }
        // without suppressedOnly both branches run to the end
        assertTrue(run.result().hasOriginal());
        WorkAssertions.assertPasses(2 * 2 + 2 * 4 + 6 * 4, 2 * (2 * 5 + 1), 0, run.result().work());
    }

    @Test
    void fastAndReferenceModesShareTheStepsBeforeTau() {
        Recorded fast = run(request().mode(Mode.FAST).build());
        Recorded reference = run(request().build());
        for (int step = 0; step < 2; step++) {
            assertEquals(reference.steps().get(step).originalLatent(), fast.steps().get(step).originalLatent(),
                    "step " + step);
        }
    }
}
