package dev.suppress.core.testing;

import dev.suppress.core.io.SafetensorsFile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * Locates the golden files of {@code ../shared/fixtures} (see its MANIFEST.md).
 *
 * <p>The folder comes from the system property {@code suppress.fixtures} (the build sets it to
 * {@code ../shared/fixtures} beside the checkout); without it, {@code ../shared/fixtures} is resolved against the
 * repository root. A missing folder or file fails the test: parity tests never skip.
 */
public final class Fixtures {

    public static final String PROPERTY = "suppress.fixtures";

    private Fixtures() {
    }

    /** The fixtures folder. */
    public static Path root() {
        String configured = System.getProperty(PROPERTY);
        Path root = configured != null ? Paths.get(configured) : repositoryRoot().resolve("../shared/fixtures");
        root = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(root)) {
            throw new AssertionError("Fixtures folder " + root + " does not exist. Parity tests need the golden "
                    + "files of ../shared/fixtures; set -D" + PROPERTY + "=<folder> to point elsewhere.");
        }
        return root;
    }

    /** A file or folder inside the fixtures, which must exist. */
    public static Path path(String relative) {
        Path path = root().resolve(relative);
        if (!Files.exists(path)) {
            throw new AssertionError("Fixture " + path + " does not exist (see MANIFEST.md)");
        }
        return path;
    }

    /** Opens a golden safetensors file; the caller closes it. */
    public static SafetensorsFile open(String relative) {
        return SafetensorsFile.open(path(relative));
    }

    /** The tiny diffusers-layout model. */
    public static Path tinyModel() {
        return path("tiny-sd");
    }

    private static Path repositoryRoot() {
        Path dir = Paths.get("").toAbsolutePath();
        for (Path at = dir; at != null; at = at.getParent()) {
            if (Files.isDirectory(at.resolve(".mvn"))) {
                return at;
            }
        }
        return dir;
    }

    /** The fixtures' manifest.json (per-file scalars and shapes). */
    public static JsonNode manifest() {
        try {
            return new ObjectMapper().readTree(path("manifest.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
