package dev.suppress.djl.singlefile;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Fuzzes the header of a single-file LDM checkpoint: the input is the safetensors JSON header (key names, shapes,
 * dtypes, offsets), written after its 8-byte length and followed by a sparse data section as long as the fixture
 * checkpoint's. {@link SingleFileCheckpoint#inspect} (architecture detection, text encoder, prediction type) and
 * the UNet, VAE and CLIP key mappings either work or throw {@link ModelFormatException} or
 * {@link IllegalArgumentException} with a message; never another exception, a hang, or an allocation sized by a
 * header number. Seed: the header of the fixture model written as an LDM file by {@link LdmCheckpointWriter}.
 */
class SingleFileFuzzTest {

    private static Path folder;
    private static Path file;
    private static long dataSize;

    @BeforeAll
    static void measureFixtureCheckpoint() throws IOException {
        folder = Files.createTempDirectory("fuzz-single-file-");
        Path ldm = folder.resolve("fixture.safetensors");
        LdmCheckpointWriter.write(Fixtures.tinyModel(), ldm, false);
        try (RandomAccessFile in = new RandomAccessFile(ldm.toFile(), "r")) {
            byte[] length = new byte[8];
            in.readFully(length);
            long headerLength = ByteBuffer.wrap(length).order(ByteOrder.LITTLE_ENDIAN).getLong();
            dataSize = in.length() - 8 - headerLength;
        }
        Files.delete(ldm);
        file = folder.resolve("fuzzed.safetensors");
    }

    @AfterAll
    static void deleteFolder() throws IOException {
        try (Stream<Path> files = Files.walk(folder)) {
            for (Path path : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }

    @FuzzTest
    @Timeout(20)
    void inspectAndMapAnyHeader(byte[] header) throws IOException {
        try (RandomAccessFile out = new RandomAccessFile(file.toFile(), "rw")) {
            out.setLength(0);
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            out.write(header);
            out.setLength(8L + header.length + dataSize);
        }
        try {
            SingleFileCheckpoint.inspect(file, SingleFileCheckpoint.Options.DEFAULTS);
            Map<String, long[]> shapes = new LinkedHashMap<>();
            try (SafetensorsFile safetensors = SafetensorsFile.open(file)) {
                safetensors.infos().values().forEach(info -> shapes.put(info.name(), info.shape()));
            }
            LdmKeyMapping.unet(file, shapes, 1);
            LdmKeyMapping.vae(file, shapes, 4);
            LdmKeyMapping.clip(file, shapes, LdmKeyMapping.CLIP_PREFIX);
            LdmKeyMapping.openClip(file, shapes, LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX, 2, 8, true);
        } catch (ModelFormatException | IllegalArgumentException expected) {
            if (expected.getMessage() == null || expected.getMessage().isBlank()) {
                throw new AssertionError("A refusal without a message", expected);
            }
        }
    }
}
