package dev.suppress.onnx;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.testing.ClosingParts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ServiceLoader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrtDiffusionBackendTest {

    @Test
    void isFoundByTheServiceLoaderAsOnnx() {
        List<String> names = ServiceLoader.load(BackendProvider.class).stream()
                .map(provider -> provider.get().name()).toList();
        assertEquals(List.of("onnx"), names);
    }

    @Test
    void opensEveryPartOfTheTinyExport() {
        try (DiffusionBackend backend = new OnnxBackendProvider().open(BackendOptions.cpu(TinyOnnxModel.folder()))) {
            assertEquals("onnx", backend.name());
            assertEquals(80, backend.textEncoder().hiddenSize());
            assertEquals(20, backend.denoiser().description().attentionLayers().size());
            assertTrue(backend.encoder().isPresent());
            assertTrue(backend.gradientProbe().isEmpty(), "no autograd: core uses finite differences");
            assertEquals(Device.CPU, ((OrtDiffusionBackend) backend).device());
        }
    }

    @Test
    void aGpuRequestWithoutTheCudaProviderIsAClearError() {
        assertFalse(OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA),
                "this test needs the CPU build of ONNX Runtime, the module's dependency");
        BackendOptions options = new BackendOptions(TinyOnnxModel.folder(), Device.gpu(0), false);
        OrtExecutionException error = assertThrows(OrtExecutionException.class,
                () -> OrtDiffusionBackend.open(options));
        assertTrue(error.getMessage().startsWith("text_encoder: cannot run "), error.getMessage());
        assertTrue(error.getMessage().contains("on gpu:0 with the CUDA execution provider"), error.getMessage());
        assertTrue(error.getMessage().contains("allow the CPU fallback"), error.getMessage());
    }

    @Test
    void aGpuRequestFallsBackToTheCpuWhenAllowed() {
        BackendOptions options = new BackendOptions(TinyOnnxModel.folder(), Device.gpu(0), true);
        try (OrtDiffusionBackend backend = OrtDiffusionBackend.open(options)) {
            assertEquals(Device.CPU, backend.device());
            assertEquals(77, backend.textEncoder().encode(new int[77]).dim(0));
        }
    }

    @Test
    void aFolderWithoutTheExportedPartsIsAClearError(@TempDir Path folder) throws Exception {
        Files.createDirectories(folder.resolve("unet"));
        Files.writeString(folder.resolve("unet/model.onnx"), "not a model");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> OrtDiffusionBackend.open(BackendOptions.cpu(folder)));
        assertTrue(error.getMessage().contains("missing [text_encoder/model.onnx, vae_decoder/model.onnx]"),
                error.getMessage());
        assertTrue(error.getMessage().contains("the folder holds [unet/]"), error.getMessage());
    }

    @Test
    void closingClosesEveryPartEvenWhenOneThrows() {
        ClosingParts parts = new ClosingParts();
        RuntimeException failure = new IllegalStateException("unet close failed");
        OrtDiffusionBackend backend = new OrtDiffusionBackend(parts.textEncoder("text_encoder", null),
                parts.denoiser("unet", failure), parts.decoder("vae_decoder", null),
                parts.encoder("vae_encoder", new IllegalStateException("vae_encoder close failed")), Device.CPU);

        RuntimeException thrown = assertThrows(RuntimeException.class, backend::close);
        assertSame(failure, thrown, "the first failure is thrown");
        assertEquals(1, thrown.getSuppressed().length);
        assertEquals("vae_encoder close failed", thrown.getSuppressed()[0].getMessage());
        assertEquals(List.of("text_encoder", "unet", "vae_decoder", "vae_encoder"), parts.closed());
    }
}
