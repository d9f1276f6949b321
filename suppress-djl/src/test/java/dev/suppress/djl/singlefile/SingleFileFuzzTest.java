package dev.suppress.djl.singlefile;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.djl.TinySdxlFolder;
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
 * header number. Seeds: the headers of the fixture model and of the tiny SDXL folder ({@link TinySdxlFolder}) written
 * as LDM files by {@link LdmCheckpointWriter}; the data section is as long as the larger of the two. Run with
 * {@code -Dsuppress.regenerateFuzzSeeds=DIR} to write the seeds again.
 */
class SingleFileFuzzTest {

    private static Path folder;
    private static Path file;
    private static long dataSize;

    @BeforeAll
    static void measureSeedCheckpoints() throws IOException {
        folder = Files.createTempDirectory("fuzz-single-file-");
        Path sd1 = folder.resolve("fixture.safetensors");
        LdmCheckpointWriter.write(Fixtures.tinyModel(), sd1, LdmArchitecture.SD1);
        Path sdxl = folder.resolve("tiny-sdxl.safetensors");
        LdmCheckpointWriter.write(TinySdxlFolder.write(Fixtures.tinyModel(), folder.resolve("tiny-sdxl")), sdxl,
                LdmArchitecture.SDXL);
        String regenerate = System.getProperty("suppress.regenerateFuzzSeeds");
        dataSize = Math.max(dataSize(sd1, regenerate == null ? null : Path.of(regenerate, "fixture_sd1_header")),
                dataSize(sdxl, regenerate == null ? null : Path.of(regenerate, "tiny_sdxl_header")));
        Files.delete(sd1);
        Files.delete(sdxl);
        file = folder.resolve("fuzzed.safetensors");
    }

    /** The length of the data section of {@code ldm}; its header is written to {@code header} unless null. */
    private static long dataSize(Path ldm, Path header) throws IOException {
        try (RandomAccessFile in = new RandomAccessFile(ldm.toFile(), "r")) {
            byte[] length = new byte[8];
            in.readFully(length);
            long headerLength = ByteBuffer.wrap(length).order(ByteOrder.LITTLE_ENDIAN).getLong();
            if (header != null) {
                byte[] bytes = new byte[Math.toIntExact(headerLength)];
                in.readFully(bytes);
                Files.write(header, bytes);
            }
            return in.length() - 8 - headerLength;
        }
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
            LdmKeyMapping.unet(file, shapes, 2);
            LdmKeyMapping.vae(file, shapes, 4);
            LdmKeyMapping.clip(file, shapes, LdmKeyMapping.CLIP_PREFIX);
            LdmKeyMapping.clip(file, shapes, LdmKeyMapping.SDXL_CLIP_PREFIX);
            LdmKeyMapping.openClip(file, shapes, LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX, 3,
                    TinySdxlFolder.POOLED_WIDTH, true);
        } catch (ModelFormatException | IllegalArgumentException expected) {
            if (expected.getMessage() == null || expected.getMessage().isBlank()) {
                throw new AssertionError("A refusal without a message", expected);
            }
        }
    }
}
