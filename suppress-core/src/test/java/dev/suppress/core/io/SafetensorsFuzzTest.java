package dev.suppress.core.io;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes {@link SafetensorsFile}: whatever the bytes, opening the file and reading every tensor it lists either
 * works or throws {@link ModelFormatException}; it never throws anything else, never hangs (the per-input timeout
 * below) and never allocates from an unchecked header (the fuzz fork's small heap turns that into a finding).
 *
 * <p>Seeds: {@code SafetensorsFuzzTestInputs/} holds small files built from the fixture headers (real key names and
 * dtypes, the tensors of {@code components/text_encoder.safetensors} and {@code scheduler/ddim.safetensors} that fit
 * in a few kilobytes), plus each finding of past runs.
 */
class SafetensorsFuzzTest {

    private static Path file;

    @BeforeAll
    static void createFile() throws IOException {
        file = Files.createTempFile("fuzz-", ".safetensors");
    }

    @AfterAll
    static void deleteFile() throws IOException {
        Files.deleteIfExists(file);
    }

    @FuzzTest
    @Timeout(10)
    void openAndReadEveryTensor(byte[] bytes) throws IOException {
        Files.write(file, bytes);
        SafetensorsFile opened;
        try {
            opened = SafetensorsFile.open(file);
        } catch (ModelFormatException expected) {
            return;
        }
        try (opened) {
            for (TensorInfo info : opened.infos().values()) {
                readOne(opened, info);
            }
        }
    }

    private static void readOne(SafetensorsFile opened, TensorInfo info) {
        try {
            if (info.dtype() == SafetensorsDType.I64 || info.dtype() == SafetensorsDType.I32) {
                opened.longs(info.name());
            }
            if (info.dtype().convertibleToFloat()) {
                opened.tensor(info.name());
            } else {
                opened.rawBytes(info.name());
            }
        } catch (ModelFormatException expected) {
            // a tensor that cannot be read as asked is refused by name
        } catch (UncheckedIOException unexpected) {
            throw new AssertionError("I/O failure on a local temporary file", unexpected);
        }
    }
}
