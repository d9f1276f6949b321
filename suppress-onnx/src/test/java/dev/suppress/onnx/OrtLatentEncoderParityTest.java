package dev.suppress.onnx;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;

class OrtLatentEncoderParityTest {

    /** The mean comes out of ~20 float32 convolutions on both sides. */
    static final Tolerance FLOAT32_KERNELS = new Tolerance(1e-4, 2e-5,
            "float32 ONNX Runtime vs float32 PyTorch CPU through the VAE encoder");

    @Test
    void encodesThePosteriorMeanTimesTheScalingFactor() throws IOException {
        try (OrtLatentEncoder encoder = TinyOnnxModel.encoder();
             SafetensorsFile golden = Fixtures.open("components/vae.safetensors")) {
            Tensor image = image(Fixtures.path("components/vae_encode_input.png"));
            Tensor latent = encoder.encode(image);
            TensorAssertions.assertClose("encode_mean_scaled", golden.tensor("encode_mean_scaled"), latent,
                    FLOAT32_KERNELS);
            assertEquals(latent, encoder.encode(image), "the mean, not a sample: no randomness left in the graph");
        }
    }

    /** An 8-bit RGB image as {@code [1, 3, H, W]} in [-1, 1]: {@code x / 127.5 - 1} as the reference's image2latent. */
    static Tensor image(Path png) throws IOException {
        BufferedImage image = ImageIO.read(png.toFile());
        int height = image.getHeight();
        int width = image.getWidth();
        int[] rgb = image.getRGB(0, 0, width, height, null, 0, width);
        float[] values = new float[3 * height * width];
        int plane = height * width;
        for (int i = 0; i < plane; i++) {
            values[i] = ((rgb[i] >> 16) & 0xff) / 127.5f - 1;
            values[plane + i] = ((rgb[i] >> 8) & 0xff) / 127.5f - 1;
            values[2 * plane + i] = (rgb[i] & 0xff) / 127.5f - 1;
        }
        return Tensor.wrapOwned(values, 1, 3, height, width);
    }
}
