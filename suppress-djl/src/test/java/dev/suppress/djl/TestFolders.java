package dev.suppress.djl;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.stream.Stream;

/** File helpers for the tests that derive a model folder from the fixture (TinySd2Folder, TinySdxlFolder). */
public final class TestFolders {

    private static final ObjectMapper JSON = new ObjectMapper();

    private TestFolders() {
    }

    /** Copies {@code from} into {@code to}, files made writable (the fixture's are read-only). */
    public static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> paths = Files.walk(from)) {
            for (Path path : paths.toList()) {
                Path target = to.resolve(from.relativize(path).toString());
                if (Files.isDirectory(path)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(path, target);
                    target.toFile().setWritable(true);
                }
            }
        }
    }

    /** Rewrites a JSON object file after {@code change}. */
    public static void editJson(Path file, Consumer<ObjectNode> change) throws IOException {
        ObjectNode json = (ObjectNode) JSON.readTree(file.toFile());
        change.accept(json);
        Files.delete(file);
        JSON.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), json);
    }

    /** Where the library ships SDXL base's published configurations (for single files and {@code make-model}). */
    public static final String SDXL_CONFIGS = "/dev/suppress/djl/singlefile/sdxl/";

    /** {@code part/config.json} of SDXL base as the library ships it. */
    public static String sdxlConfig(String part) {
        String resource = SDXL_CONFIGS + part + "/config.json";
        try (java.io.InputStream in = TestFolders.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("No resource " + resource);
            }
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
