package dev.suppress.onnx;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class OrtLatentDecoderParityTest {

    /** Pixels come out of ~20 float32 convolutions on both sides; values are O(1). */
    static final Tolerance FLOAT32_KERNELS = new Tolerance(1e-4, 2e-5,
            "float32 ONNX Runtime vs float32 PyTorch CPU through the VAE decoder");

    @Test
    void decodesTheScaledLatentAsTheReference() {
        try (OrtLatentDecoder decoder = TinyOnnxModel.decoder();
             SafetensorsFile golden = Fixtures.open("components/vae.safetensors")) {
            // The fixture is vae.decode(latent / 0.18215); the decoder divides by the scaling factor itself.
            Tensor image = decoder.decode(golden.tensor("latent"));
            TensorAssertions.assertClose("decode_sample", golden.tensor("decode_sample"), image, FLOAT32_KERNELS);
            assertEquals(0.18215, decoder.scalingFactor(), 0, "the ONNX folder has no VAE config: SD 1.x default");
        }
    }
}
