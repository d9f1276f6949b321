package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnnxModelFileTest {

    @Test
    void writesBackTheBytesItRead() throws Exception {
        Path file = Fixtures.path("tiny-sd-onnx/unet/model.onnx");
        ModelProto model = OnnxModelFile.read(file);
        ByteBuffer buffer = OnnxModelFile.toDirectBuffer(model);

        assertTrue(buffer.isDirect());
        assertEquals(0, buffer.position());
        byte[] written = new byte[buffer.remaining()];
        buffer.get(written);
        assertArrayEquals(Files.readAllBytes(file), written, "an unedited model serializes to the same bytes");
    }

    @Test
    void aFileThatIsNotAModelIsAModelFormatError(@TempDir Path folder) throws Exception {
        Path file = folder.resolve("model.onnx");
        Files.write(file, new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff});
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> OnnxModelFile.read(file));
        assertTrue(error.getMessage().startsWith("Not an ONNX model"), error.getMessage());
        assertEquals(file, error.file());
    }

    @Test
    void aMissingFileIsAModelFormatError(@TempDir Path folder) {
        Path file = folder.resolve("absent.onnx");
        ModelFormatException error = assertThrows(ModelFormatException.class, () -> OnnxModelFile.read(file));
        assertTrue(error.getMessage().startsWith("ONNX model file not found"), error.getMessage());
    }
}
