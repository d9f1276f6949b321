package dev.suppress.onnx;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class OrtTextEncoderParityTest {

    /** ONNX Runtime's float32 kernels against PyTorch's float32 CPU kernels: only summation order differs. */
    static final Tolerance FLOAT32_KERNELS = new Tolerance(1e-4, 1e-5,
            "float32 ONNX Runtime vs float32 PyTorch CPU, different summation order");

    private static OrtTextEncoder encoder;
    private static SafetensorsFile golden;

    @BeforeAll
    static void open() {
        encoder = TinyOnnxModel.textEncoder();
        golden = Fixtures.open("components/text_encoder.safetensors");
    }

    @AfterAll
    static void close() {
        encoder.close();
        golden.close();
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3})
    void matchesTheReferenceLastHiddenState(int prompt) {
        long[] ids = golden.longs("input_ids_" + prompt);
        int[] tokenIds = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            tokenIds[i] = Math.toIntExact(ids[i]);
        }
        Tensor hidden = encoder.encode(tokenIds);
        TensorAssertions.assertClose("last_hidden_state_" + prompt, golden.tensor("last_hidden_state_" + prompt),
                hidden, FLOAT32_KERNELS);
    }

    @Test
    void readsTheWidthAndLengthFromTheModel() {
        assertEquals(80, encoder.hiddenSize(), "MANIFEST.md: hidden 80");
        assertEquals(77, encoder.maxLength());
    }

    @Test
    void rejectsUnpaddedIds() {
        IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                () -> encoder.encode(new int[] {49406, 49407}));
        assertEquals("Expected 77 padded token ids, got 2", error.getMessage());
    }
}
