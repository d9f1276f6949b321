package dev.suppress.core;

import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.ito.FiniteDifferenceOptions;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;

import java.util.List;

/**
 * The package-private pipeline for the backends' parity tests: whole edits on a backend, and stretches of steps run
 * from the reference's own states (teacher forcing).
 */
public final class PipelineAccess {

    private final SuppressionPipeline pipeline;

    public PipelineAccess(DiffusionBackend backend, ClipTokenizer tokenizer, SchedulerConfig config,
                          FiniteDifferenceOptions finiteDifferences) {
        this.pipeline = new SuppressionPipeline(backend, tokenizer, config, finiteDifferences);
    }

    /** Both branches' latents {@code [1, 4, h, w]}. */
    public record Latents(Tensor original, Tensor suppressed) {
    }

    /** What a stretch computed. */
    public record Stretch(Latents latents, List<SuppressionResult.ItoStep> itoSteps, UNetWork work) {
    }

    public SuppressionResult generate(SuppressionRequest request, ProgressListener listener) {
        return pipeline.generate(request, listener);
    }

    public ImageEditResult edit(ImageEditRequest request, ProgressListener listener) {
        return pipeline.edit(request, listener);
    }

    /** Steps {@code fromStep .. toStep-1} from {@code from}; see {@code SuppressionPipeline#denoise}. */
    public Stretch denoise(SuppressionRequest request, Latents from, int fromStep, int toStep,
                           List<Tensor> unconditional, ProgressListener listener) {
        SuppressionPipeline.Stretch stretch = pipeline.denoise(request, new Branches(from.original(),
                from.suppressed()), fromStep, toStep, unconditional, listener);
        return new Stretch(new Latents(stretch.latents().original(), stretch.latents().suppressed()),
                stretch.itoSteps(), stretch.work());
    }
}
