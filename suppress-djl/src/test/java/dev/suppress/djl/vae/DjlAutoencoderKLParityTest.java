package dev.suppress.djl.vae;

import ai.djl.Device;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** diffusers AutoencoderKL on the tiny fixture model vs {@code components/vae.safetensors}. */
class DjlAutoencoderKLParityTest {

    /** float32 vs float32 reference through the decoder; differences are reduction-order rounding. */
    private static final Tolerance DECODED = new Tolerance(1e-4, 1e-5,
            "float32 vs float32 reference, different reduction order");
    /** float32 vs float32 reference through the encoder and quant_conv. */
    private static final Tolerance ENCODED = new Tolerance(1e-4, 1e-5,
            "float32 vs float32 reference, different reduction order");

    private static DjlLatentDecoder decoder;
    private static DjlLatentEncoder encoder;
    private static SafetensorsFile golden;

    @BeforeAll
    static void open() {
        decoder = DjlLatentDecoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu());
        encoder = DjlLatentEncoder.open(Fixtures.tinyModel().resolve("vae"), Device.cpu());
        golden = Fixtures.open("components/vae.safetensors");
    }

    @AfterAll
    static void close() {
        decoder.close();
        encoder.close();
        golden.close();
    }

    @Test
    void decodesAsTheReferenceDecodesTheLatentOverTheScalingFactor() {
        Tensor image = decoder.decode(golden.tensor("latent"));
        TensorAssertions.assertClose("decode_sample", golden.tensor("decode_sample"), image, DECODED);
    }

    @Test
    void encodesThePosteriorMeanTimesTheScalingFactor() throws IOException {
        Tensor latents = encoder.encode(referenceImage());
        TensorAssertions.assertClose("encode_mean_scaled", golden.tensor("encode_mean_scaled"), latents, ENCODED);
        float[] unscaled = latents.toArray();
        for (int i = 0; i < unscaled.length; i++) {
            unscaled[i] /= (float) encoder.scalingFactor();
        }
        TensorAssertions.assertClose("encode_mean", golden.tensor("encode_mean"),
                Tensor.wrapOwned(unscaled, latents.shape()), ENCODED);
    }

    @Test
    void readsCheckpointsThatUseTheLegacyAttentionNames(@TempDir Path dir) throws IOException {
        Path tiny = Fixtures.tinyModel().resolve("vae");
        Path folder = Files.createDirectories(dir.resolve("vae"));
        Files.copy(tiny.resolve("config.json"), folder.resolve("config.json"));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(tiny.resolve("diffusion_pytorch_model.safetensors"))) {
            for (String name : file.names()) {
                // diffusers before 0.14 saved the mid-block attention as query/key/value/proj_attn
                String legacy = name.replace(".to_q.", ".query.").replace(".to_k.", ".key.")
                        .replace(".to_v.", ".value.").replace(".to_out.0.", ".proj_attn.");
                tensors.put(legacy, file.tensor(name));
            }
        }
        SafetensorsWriter.write(folder.resolve("diffusion_pytorch_model.safetensors"), tensors);
        Tensor latent = golden.tensor("latent");
        try (DjlLatentDecoder legacy = DjlLatentDecoder.open(folder, Device.cpu())) {
            assertEquals(decoder.decode(latent), legacy.decode(latent));
        }
    }

    @Test
    void readsTheScalingFactorFromTheConfig() {
        assertEquals(0.18215, decoder.scalingFactor(), 1e-12);
        assertEquals(0.18215, encoder.scalingFactor(), 1e-12);
        assertEquals(true, DjlLatentEncoder.isPresent(Fixtures.tinyModel().resolve("vae")));
    }

    @Test
    void rejectsLatentsAndImagesOfTheWrongShape() {
        IllegalArgumentException latent = assertThrows(IllegalArgumentException.class,
                () -> decoder.decode(Tensor.zeros(1, 3, 8, 8)));
        assertEquals("Expected latents [batch, 4, h, w], got [1, 3, 8, 8]", latent.getMessage());
        IllegalArgumentException image = assertThrows(IllegalArgumentException.class,
                () -> encoder.encode(Tensor.zeros(1, 3, 20, 16)));
        assertEquals("Expected images [batch, 3, H, W] with H and W multiples of 8, got [1, 3, 20, 16]",
                image.getMessage());
    }

    /**
     * {@code components/vae_encode_input.png} as the reference's {@code NullInversion.image2latent} feeds it:
     * {@code [1, 3, H, W]} with {@code value / 127.5 - 1}.
     */
    private static Tensor referenceImage() throws IOException {
        BufferedImage png = ImageIO.read(Fixtures.path("components/vae_encode_input.png").toFile());
        int height = png.getHeight();
        int width = png.getWidth();
        int[] argb = png.getRGB(0, 0, width, height, null, 0, width);
        float[] pixels = new float[3 * height * width];
        int plane = height * width;
        for (int i = 0; i < plane; i++) {
            pixels[i] = ((argb[i] >> 16) & 0xFF) / 127.5f - 1f;
            pixels[plane + i] = ((argb[i] >> 8) & 0xFF) / 127.5f - 1f;
            pixels[2 * plane + i] = (argb[i] & 0xFF) / 127.5f - 1f;
        }
        return Tensor.wrapOwned(pixels, 1, 3, height, width);
    }
}
