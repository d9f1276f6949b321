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

    /**
     * The mean comes out of float32 convolutions over 256x256 pixels, 14 group norms and the mid-block attention
     * on both sides; summation-order differences reach ~1e-4 relative there (measured: max abs 1.7e-5 on values
     * up to 0.29), more than in the decoder, whose input is only 32x32.
     */
    static final Tolerance FLOAT32_KERNELS = new Tolerance(1e-4, 5e-5,
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
