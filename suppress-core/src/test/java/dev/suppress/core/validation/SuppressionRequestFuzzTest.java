package dev.suppress.core.validation;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.Mode;
import dev.suppress.core.RequestValidator;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.FakeBackend;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.internal.text.TokenIndices;
import dev.suppress.core.text.TokenizedPrompt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

/**
 * Fuzzes the request options: any combination of values (NaN, infinities, negative, huge; any prompt and words;
 * a seed latent of any shape) is either a request that the record and {@link RequestValidator} accept, with its
 * words resolvable or refused by name, or an {@link IllegalArgumentException} / {@link InsufficientMemoryException};
 * never another exception, a hang or an allocation sized by an option.
 */
class SuppressionRequestFuzzTest {

    private static ClipTokenizer tokenizer;
    private static FakeBackend backend;

    @BeforeAll
    static void load() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
        backend = new FakeBackend();
    }

    @FuzzTest
    @Timeout(10)
    void buildAndValidate(FuzzedDataProvider data) {
        SuppressionRequest request;
        try {
            request = build(data);
        } catch (IllegalArgumentException refused) {
            return;
        }
        try {
            RequestValidator.check(request, tokenizer, backend.denoiser().description(), Precision.FP32);
            TokenizedPrompt prompt = tokenizer.tokenize(request.prompt());
            TokenIndices.resolveAll(tokenizer, prompt, request.suppressWords());
            TokenIndices.validate(prompt, request.tokenIndices().stream().mapToInt(Integer::intValue).toArray());
        } catch (IllegalArgumentException | InsufficientMemoryException refused) {
            // refused by name
        }
    }

    private static SuppressionRequest build(FuzzedDataProvider data) {
        SuppressionRequest.Builder builder = SuppressionRequest.builder(data.consumeString(200));
        int words = data.consumeInt(0, 3);
        for (int w = 0; w < words; w++) {
            builder.suppress(data.consumeString(30));
        }
        if (data.consumeBoolean()) {
            builder.suppressTokenIndices(data.consumeInt(), data.consumeInt(-2, 80));
        }
        builder.seed(data.consumeLong()).steps(data.consumeInt(-5, 1200)).guidanceScale(data.consumeDouble())
                .tau(data.consumeDouble()).itoIterations(data.consumeInt(-5, 5000))
                .itoStepScale(data.consumeDouble()).maxItoStep(data.consumeInt(-5, 1200))
                .attentionResolution(data.consumeInt(-2, 64)).imageSize(data.consumeInt(-16, 9000))
                .suppressedOnly(data.consumeBoolean())
                .mode(data.pickValue(Mode.values()))
                .itoHeadAveraging(data.pickValue(HeadAveraging.values()))
                .regularization(data.pickValue(SoftWeightedRegularization.Variant.values()), data.consumeDouble());
        if (data.consumeBoolean()) {
            builder.lossWeights(new LossWeights(data.consumeDouble(), data.consumeDouble(), data.consumeDouble(),
                    data.consumeDouble()));
        }
        if (data.consumeBoolean()) {
            builder.negativePrompt(data.consumeString(200));
        }
        if (data.consumeBoolean()) {
            int[] shape = new int[data.consumeInt(1, 5)];
            for (int axis = 0; axis < shape.length; axis++) {
                shape[axis] = data.consumeInt(0, 16);
            }
            long size = 1;
            for (int dimension : shape) {
                size *= dimension;
            }
            float[] values = new float[(int) size];
            for (int i = 0; i < values.length && data.remainingBytes() > 0; i++) {
                values[i] = data.consumeFloat();
            }
            builder.initialLatent(Tensor.wrapOwned(values, shape));
        }
        return builder.build();
    }
}
