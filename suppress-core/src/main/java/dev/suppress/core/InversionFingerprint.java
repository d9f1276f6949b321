package dev.suppress.core;

import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.schedule.SchedulerConfig;
import dev.suppress.core.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * What a photo's inversion depends on, as the {@link SavedInversion} fingerprint records it: one exact string per
 * input, compared field by field before an edit reuses the inversion. The inversion method itself is the file's
 * {@value SavedInversion#METHOD_KEY} field.
 *
 * <ul>
 *   <li>{@value #MODEL}: the model folder's absolute path, with the number, total size and a digest of the names and
 *       sizes of its files (not their contents: reading gigabytes of weights per edit would cost more than the
 *       inversion saves)</li>
 *   <li>{@value #BACKEND}: the backend and its precision (a half-precision inversion is not a float32 one)</li>
 *   <li>{@value #SCHEDULER}: the DDIM configuration</li>
 *   <li>{@value #PROMPT}, {@value #STEPS}, {@value #GUIDANCE}, {@value #SIZE} (height x width in pixels)</li>
 *   <li>{@value #NULL_TEXT}: null-text inversion's optimizer settings, for null-text inversions only</li>
 *   <li>{@value #PHOTO}: a SHA-256 of the photo tensor after cropping and resizing</li>
 * </ul>
 */
final class InversionFingerprint {

    static final String MODEL = "model";
    static final String BACKEND = "backend";
    static final String SCHEDULER = "scheduler";
    static final String PHOTO = "photo";
    static final String PROMPT = "prompt";
    static final String STEPS = "steps";
    static final String GUIDANCE = "guidance";
    static final String SIZE = "size";
    static final String NULL_TEXT = "null-text";

    /** Hex digits kept of a SHA-256: 128 bits tell photos and folder listings apart. */
    private static final int DIGEST_HEX_DIGITS = 32;

    private InversionFingerprint() {
    }

    /**
     * The fingerprint of inverting {@code photo} for {@code request}.
     *
     * @param model     {@link #model(Path)} of the model folder
     * @param backend   the backend's name and precision, e.g. {@code djl fp32}
     * @param scheduler the DDIM configuration
     * @param request   the inversion's options
     * @param photo     the photo after cropping and resizing {@code [1, 3, H, W]}; not modified
     */
    static Map<String, String> of(String model, String backend, SchedulerConfig scheduler, InversionRequest request,
                                  Tensor photo) {
        // in the order a mismatch is looked for: the readable fields first, the photo's digest last
        Map<String, String> fingerprint = new LinkedHashMap<>();
        fingerprint.put(MODEL, model);
        fingerprint.put(BACKEND, backend);
        fingerprint.put(SCHEDULER, scheduler.toString());
        fingerprint.put(PROMPT, request.prompt());
        fingerprint.put(STEPS, Integer.toString(request.steps()));
        fingerprint.put(GUIDANCE, Double.toString(request.guidanceScale()));
        fingerprint.put(SIZE, photo.dim(2) + "x" + photo.dim(3));
        if (request.inversion() == Inversion.NULL_TEXT) {
            NullTextOptions options = request.nullText();
            fingerprint.put(NULL_TEXT, String.format(Locale.ROOT, "innerSteps=%d earlyStopEpsilon=%s "
                    + "baseLearningRate=%s", options.innerSteps(), options.earlyStopEpsilon(),
                    options.baseLearningRate()));
        }
        fingerprint.put(PHOTO, photo(photo));
        return fingerprint;
    }

    /** The digest of a photo tensor's float32 values, little-endian. */
    static String photo(Tensor photo) {
        ByteBuffer bytes = ByteBuffer.allocate(4 * photo.size()).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(photo.toArray());
        StringBuilder shape = new StringBuilder();
        for (int dimension : photo.shape()) {
            shape.append(shape.length() == 0 ? "" : "x").append(dimension);
        }
        return "sha256:" + digest(bytes.array()) + " of " + shape;
    }

    /**
     * The model folder (or file) as a fingerprint: its absolute path, and its regular files' relative paths and
     * sizes, in name order, summarised as a count, a total and a digest.
     *
     * @throws UncheckedIOException naming the folder when it cannot be listed
     */
    static String model(Path folder) {
        Path root = folder.toAbsolutePath().normalize();
        List<Path> files;
        try (Stream<Path> walk = Files.walk(root)) {
            files = walk.filter(Files::isRegularFile).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list the model folder " + root + " for the inversion fingerprint",
                    e);
        }
        StringBuilder listing = new StringBuilder();
        long total = 0;
        for (Path file : files) {
            long size;
            try {
                size = Files.size(file);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read the size of " + file + " for the inversion fingerprint",
                        e);
            }
            total += size;
            listing.append(root.relativize(file).toString().replace('\\', '/')).append('\t').append(size)
                    .append('\n');
        }
        return root + " (" + files.size() + " files, " + total + " bytes, sha256:"
                + digest(listing.toString().getBytes(StandardCharsets.UTF_8)) + " of their names and sizes)";
    }

    private static String digest(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes))
                    .substring(0, DIGEST_HEX_DIGITS);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("Every Java runtime has SHA-256", e);
        }
    }
}
