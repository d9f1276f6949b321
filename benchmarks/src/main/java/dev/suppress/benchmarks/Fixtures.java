package dev.suppress.benchmarks;

import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;

/**
 * Locates the fixtures folder ({@code ../shared/fixtures}, see its MANIFEST.md) for the benchmarks, which run from a
 * jar and so cannot use the tests' locator in core's test-jar.
 *
 * <p>The folder is the system property {@value #PROPERTY} when set; otherwise {@code ../shared/fixtures} resolved
 * against the repository root (the first folder holding {@code .mvn/}), searched upwards from the working directory
 * and then from the benchmarks jar's location, so that both {@code java -jar benchmarks/target/benchmarks.jar} from
 * the root and the scripts in {@code benchmarks/} find it.
 */
public final class Fixtures {

    /** The system property naming the fixtures folder (the same one the tests read). */
    public static final String PROPERTY = "suppress.fixtures";

    private Fixtures() {
    }

    /**
     * The fixtures folder.
     *
     * @throws IllegalStateException when it does not exist
     */
    public static Path root() {
        String configured = System.getProperty(PROPERTY);
        Path root;
        if (configured != null) {
            root = Paths.get(configured);
        } else {
            Path repository = repositoryRoot(Paths.get("").toAbsolutePath());
            if (repository == null) {
                repository = repositoryRoot(jarFolder());
            }
            if (repository == null) {
                throw new IllegalStateException("Cannot find the repository root (a folder with .mvn/) above "
                        + Paths.get("").toAbsolutePath() + " or the benchmarks jar; set -D" + PROPERTY
                        + "=<fixtures folder>");
            }
            root = repository.resolve("../shared/fixtures");
        }
        root = root.toAbsolutePath().normalize();
        if (!Files.isDirectory(root)) {
            throw new IllegalStateException("Fixtures folder " + root + " does not exist; set -D" + PROPERTY
                    + "=<fixtures folder> (the golden files of ../shared/fixtures)");
        }
        return root;
    }

    /**
     * A file or folder inside the fixtures.
     *
     * @throws IllegalStateException when it does not exist
     */
    public static Path path(String relative) {
        Path path = root().resolve(relative);
        if (!Files.exists(path)) {
            throw new IllegalStateException("Fixture " + path + " does not exist (see MANIFEST.md)");
        }
        return path;
    }

    /** The tiny diffusers-layout model, {@code tiny-sd}. */
    public static Path tinyModel() {
        return path("tiny-sd");
    }

    /** The ONNX export of the same model, {@code tiny-sd-onnx} (no tokenizer, scheduler or UNet config). */
    public static Path tinyOnnxModel() {
        return path("tiny-sd-onnx");
    }

    private static Path repositoryRoot(Path start) {
        for (Path at = start; at != null; at = at.getParent()) {
            if (Files.isDirectory(at.resolve(".mvn"))) {
                return at;
            }
        }
        return null;
    }

    private static Path jarFolder() {
        CodeSource source = Fixtures.class.getProtectionDomain().getCodeSource();
        if (source == null) {
            return null;
        }
        try {
            return Paths.get(source.getLocation().toURI()).toAbsolutePath().getParent();
        } catch (URISyntaxException | IllegalArgumentException e) {
            return null;
        }
    }
}
