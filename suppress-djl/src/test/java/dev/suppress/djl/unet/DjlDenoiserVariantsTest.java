package dev.suppress.djl.unet;

import ai.djl.Device;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.attention.AttentionAggregator;
import dev.suppress.core.attention.AttentionCapture;
import dev.suppress.core.attention.AttentionLayerId;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.attention.AttentionMaps;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.backend.DenoiserOutput;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Configuration variants the fixture model does not exercise, checked against an equivalent computation: SD 2.x's
 * linear {@code proj_in}/{@code proj_out} against the 1x1 convolutions they replace, and latents whose side is not a
 * multiple of the UNet's total downsampling, and one-head layers under the reference's half-heads averaging.
 */
class DjlDenoiserVariantsTest {

    /** A 1x1 convolution and a Linear with the same weights differ only in the kernels' float rounding. */
    private static final Tolerance SAME_MATH_OTHER_KERNELS = new Tolerance(1e-4, 1e-5,
            "float32, convolution vs matrix multiplication kernels");

    /** The same probabilities averaged on the device and in core: float32 sums in another order. */
    private static final Tolerance SUMMATION_ORDER = new Tolerance(1e-5, 1e-6, "float32 sums in another order");

    @TempDir
    Path dir;

    @Test
    void linearProjectionsEqualTheOneByOneConvolutionsTheyReplace() throws IOException {
        Path tiny = Fixtures.tinyModel().resolve("unet");
        Path linear = unetConfiguredWith("unet", config -> config.put("use_linear_projection", true));
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try (SafetensorsFile file = SafetensorsFile.open(tiny.resolve("diffusion_pytorch_model.safetensors"))) {
            for (String name : file.names()) {
                Tensor tensor = file.tensor(name);
                boolean projection = name.contains(".proj_in.weight") || name.contains(".proj_out.weight");
                // a conv weight [out, in, 1, 1] is the Linear weight [out, in]
                tensors.put(name, projection ? tensor.reshape(tensor.dim(0), tensor.dim(1)) : tensor);
            }
        }
        SafetensorsWriter.write(linear.resolve("diffusion_pytorch_model.safetensors"), tensors);

        Tensor latent;
        Tensor context;
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors")) {
            latent = golden.tensor("latent");
            context = golden.tensor("encoder_hidden_states");
        }
        AttentionCapture capture = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
        try (DjlDenoiser convolutions = DjlDenoiser.open(tiny, Device.cpu(), UNetDescription.PredictionType.EPSILON);
             DjlDenoiser linears = DjlDenoiser.open(linear, Device.cpu(), UNetDescription.PredictionType.EPSILON)) {
            DenoiserOutput expected = convolutions.denoise(latent, 981, context, capture);
            DenoiserOutput actual = linears.denoise(latent, 981, context, capture);
            TensorAssertions.assertClose("noise prediction", expected.noisePrediction(), actual.noisePrediction(),
                    SAME_MATH_OTHER_KERNELS);
            TensorAssertions.assertClose("cross maps", expected.attention().cross(), actual.attention().cross(),
                    SAME_MATH_OTHER_KERNELS);
        }
    }

    @Test
    void oneHeadLayersAverageTheHeadsCoresAggregatorAverages() throws IOException {
        // attention_head_dim 1: one head per layer, where FIRST_HALF_OF_HEADS keeps the only head ((heads+1)/2, as
        // torch.chunk splits and as the ONNX backend computes through core's aggregator); same weights
        Path tiny = Fixtures.tinyModel().resolve("unet");
        Path oneHead = unetConfiguredWith("one-head-unet", config -> config.put("attention_head_dim", 1));
        Files.copy(tiny.resolve("diffusion_pytorch_model.safetensors"),
                oneHead.resolve("diffusion_pytorch_model.safetensors"));

        Tensor latent;
        Tensor context;
        try (SafetensorsFile golden = Fixtures.open("components/unet.safetensors")) {
            latent = golden.tensor("latent");
            context = golden.tensor("encoder_hidden_states");
        }
        try (DjlDenoiser denoiser = DjlDenoiser.open(oneHead, Device.cpu(), UNetDescription.PredictionType.EPSILON)) {
            List<AttentionLayerInfo> layers = denoiser.description().attentionLayers();
            AttentionCapture reference = AttentionCapture.reference(16, HeadAveraging.FIRST_HALF_OF_HEADS);
            AttentionAggregator aggregator = new AttentionAggregator(layers, latent.dim(2), reference);
            Set<AttentionLayerId> needed = new HashSet<>();
            for (AttentionLayerInfo layer : aggregator.requiredLayers()) {
                assertEquals(1, layer.heads(), layer.id().toString());
                needed.add(layer.id());
            }
            AttentionMaps maps = denoiser.denoise(latent, 981, context, reference.withRawLayers(needed)).attention();
            AttentionMaps expected = aggregator.aggregate(maps.raw());
            TensorAssertions.assertClose("cross maps", expected.cross(), maps.cross(), SUMMATION_ORDER);
            TensorAssertions.assertClose("self maps", expected.self(), maps.self(), SUMMATION_ORDER);
        }
    }

    /** A new UNet folder {@code name} holding the fixture's {@code config.json} after {@code edit}; no weights. */
    private Path unetConfiguredWith(String name, Consumer<ObjectNode> edit) throws IOException {
        Path folder = dir.resolve(name);
        Files.createDirectories(folder);
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode config = (ObjectNode) mapper.readTree(Fixtures.tinyModel().resolve("unet/config.json").toFile());
        edit.accept(config);
        mapper.writeValue(folder.resolve("config.json").toFile(), config);
        return folder;
    }

    @Test
    void latentsWhoseSideIsNotAMultipleOfTheDownsamplingKeepTheirSize() {
        // diffusers forwards the skip connection's size to the upsamplers: 20 -> 10 -> 5 -> 3 and back
        try (DjlDenoiser denoiser = DjlDenoiser.open(Fixtures.tinyModel().resolve("unet"), Device.cpu(),
                UNetDescription.PredictionType.EPSILON)) {
            Tensor noise = denoiser.denoise(Tensor.zeros(2, 4, 20, 12), 500, Tensor.zeros(2, 77, 80), null)
                    .noisePrediction();
            assertArrayEquals(new int[] {2, 4, 20, 12}, noise.shape());
        }
    }
}
