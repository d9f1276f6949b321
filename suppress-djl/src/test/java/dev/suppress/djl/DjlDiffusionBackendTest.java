package dev.suppress.djl;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.BackendOptions;
import dev.suppress.core.backend.BackendProvider;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.DiffusionBackend;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.ClosingParts;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Opening a diffusers folder through the ServiceLoader provider, device selection, and closing every part. */
class DjlDiffusionBackendTest {

    @Test
    void theServiceLoaderFindsTheDjlProvider() {
        List<String> names = new ArrayList<>();
        for (BackendProvider provider : ServiceLoader.load(BackendProvider.class)) {
            names.add(provider.name());
        }
        assertEquals(List.of("djl"), names);
    }

    @Test
    void opensEveryPartOfTheTinyModelAndClosesThem() {
        BackendProvider provider = ServiceLoader.load(BackendProvider.class).findFirst().orElseThrow();
        DiffusionBackend backend = provider.open(BackendOptions.cpu(Fixtures.tinyModel()));
        try {
            assertEquals("djl", backend.name());
            assertEquals(80, backend.textEncoder().hiddenSize());
            UNetDescription description = backend.denoiser().description();
            assertEquals(UNetDescription.PredictionType.EPSILON, description.predictionType());
            assertEquals(20, description.attentionLayers().size());
            assertTrue(backend.encoder().isPresent());
            assertTrue(backend.gradientProbe().isPresent());
            Tensor embedding = backend.textEncoder().encode(new int[77]);
            assertArrayEquals(new int[] {77, 80}, embedding.shape());
            Tensor image = backend.decoder().decode(Tensor.zeros(1, 4, 4, 4));
            assertArrayEquals(new int[] {1, 3, 32, 32}, image.shape());
        } finally {
            backend.close();
        }
        IllegalStateException closed = assertThrows(IllegalStateException.class,
                () -> backend.textEncoder().encode(new int[77]));
        assertEquals("DjlTextEncoder is closed", closed.getMessage());
        assertThrows(IllegalStateException.class, () -> backend.denoiser().denoise(Tensor.zeros(1, 4, 8, 8), 1,
                Tensor.zeros(1, 77, 80), null));
        assertThrows(IllegalStateException.class, () -> backend.decoder().decode(Tensor.zeros(1, 4, 4, 4)));
        assertThrows(IllegalStateException.class,
                () -> backend.encoder().orElseThrow().encode(Tensor.zeros(1, 3, 32, 32)));
    }

    @Test
    void aGpuThatPyTorchDoesNotSeeIsAClearErrorUnlessTheCpuFallbackIsAllowed() {
        Path model = Fixtures.tinyModel();
        IllegalStateException error = assertThrows(IllegalStateException.class,
                () -> DjlDiffusionBackend.open(new BackendOptions(model, Device.gpu(7), false)));
        assertTrue(error.getMessage().startsWith("Device gpu:7 was requested but PyTorch sees 0 CUDA device(s)"),
                error.getMessage());
        assertTrue(error.getMessage().contains("pytorch-native-cu128"), error.getMessage());
        try (DjlDiffusionBackend backend = DjlDiffusionBackend.open(new BackendOptions(model, Device.gpu(7), true))) {
            assertEquals(80, backend.textEncoder().hiddenSize());
        }
    }

    @Test
    void aMissingFolderIsAModelFormatError() {
        Path missing = Fixtures.root().resolve("no-such-model");
        ModelFormatException error = assertThrows(ModelFormatException.class,
                () -> DjlDiffusionBackend.open(BackendOptions.cpu(missing)));
        assertEquals(missing, error.file());
    }

    @Test
    void closingClosesEveryPartEvenWhenSomeThrow() {
        ClosingParts parts = new ClosingParts();
        RuntimeException textFailure = new IllegalStateException("text encoder failed to close");
        RuntimeException decoderFailure = new IllegalStateException("decoder failed to close");
        DjlDiffusionBackend backend = new DjlDiffusionBackend(
                parts.textEncoder("text encoder", textFailure), parts.denoiser("denoiser", null),
                parts.decoder("decoder", decoderFailure), parts.encoder("encoder", null), null);
        RuntimeException thrown = assertThrows(RuntimeException.class, backend::close);
        assertSame(textFailure, thrown);
        assertEquals(List.of(decoderFailure), List.of(thrown.getSuppressed()));
        assertEquals(List.of("text encoder", "denoiser", "decoder", "encoder"), parts.closed());
    }
}
