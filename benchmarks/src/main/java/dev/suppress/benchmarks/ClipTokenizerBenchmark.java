package dev.suppress.benchmarks;

import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * {@link ClipTokenizer#tokenize}: ftfy and whitespace clean-up, the CLIP pre-tokenizer regex, BPE and padding to 77,
 * on the fixture model's tokenizer (the real CLIP vocabulary and merges). The tokenizer caches BPE per word, so
 * after the first invocation this is the steady state of a process that tokenizes the same words again.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class ClipTokenizerBenchmark {

    /** The fixtures' text-encoder prompts (components/text_encoder.safetensors), a short and a long one. */
    @Param({"a man without glasses", "A man with a beard wearing glasses and a hat in blue shirt",
            "A dog in Van Gogh Style"})
    public String prompt;

    private ClipTokenizer tokenizer;

    /** Loads the tokenizer of {@code tiny-sd/tokenizer}. */
    @Setup
    public void load() {
        tokenizer = ClipTokenizer.load(Fixtures.tinyModel().resolve("tokenizer"));
    }

    /** One prompt to its 77 padded ids. */
    @Benchmark
    public TokenizedPrompt tokenize() {
        return tokenizer.tokenize(prompt);
    }
}
