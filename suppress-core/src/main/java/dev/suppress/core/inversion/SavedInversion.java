package dev.suppress.core.inversion;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A photo's inversion, saved so that later edits of the same photo need not invert it again (issue 13, item 5).
 *
 * <p>The file is safetensors: the tensor {@value #INVERTED} (the latent after DDIM inversion, {@code [1,4,h,w]})
 * and the unconditional embeddings the method produced, {@code unconditional.0} … {@code unconditional.(S-1)}
 * (one per step for null-text inversion, one for negative-prompt inversion). The header's {@code __metadata__}
 * holds the method under {@value #METHOD_KEY} and the fingerprint: one string per input the inversion depends on
 * (model, photo, prompt, steps, guidance, method options, size). Reuse compares the fingerprint field by field with
 * {@link #requireFingerprint}; the values are whatever the caller computes, as exact strings. Other tensors may sit
 * beside these (an edit's {@code --save-latents} file also holds its final latents {@code original} and
 * {@code suppressed}): {@link #write(Path, Map)} writes them and {@link #read} leaves them alone.
 */
public final class SavedInversion {

    /** The tensor name of the inverted latent. */
    public static final String INVERTED = "inverted";
    /** The prefix of the unconditional embeddings' tensor names, followed by the step index. */
    public static final String UNCONDITIONAL_PREFIX = "unconditional.";
    /** The metadata key of the inversion method (an {@link Inversion} name). */
    public static final String METHOD_KEY = "inversion";

    private final Tensor inverted;
    private final Inversion method;
    private final List<Tensor> unconditionals;
    private final Map<String, String> fingerprint;
    /** The file it was read from, for messages; {@code null} when made in memory. */
    private final Path source;

    /**
     * @param inverted       the latent after DDIM inversion, {@code [1,4,h,w]}
     * @param method         the inversion that produced {@code unconditionals}
     * @param unconditionals one embedding per step (null-text) or exactly one (negative-prompt)
     * @param fingerprint    what the inversion depends on, field name to exact value; must not use
     *                       {@value #METHOD_KEY}
     */
    public SavedInversion(Tensor inverted, Inversion method, List<Tensor> unconditionals,
            Map<String, String> fingerprint) {
        this(inverted, method, unconditionals, fingerprint, null);
    }

    private SavedInversion(Tensor inverted, Inversion method, List<Tensor> unconditionals,
            Map<String, String> fingerprint, Path source) {
        this.source = source;
        this.inverted = Objects.requireNonNull(inverted, "inverted");
        this.method = Objects.requireNonNull(method, "method");
        this.unconditionals = List.copyOf(unconditionals);
        this.fingerprint = Map.copyOf(fingerprint);
        if (!isLatentShape(inverted.shape())) {
            throw new IllegalArgumentException("The inverted latent must be [1, 4, h, w], not "
                    + Arrays.toString(inverted.shape()));
        }
        if (this.unconditionals.isEmpty()) {
            throw new IllegalArgumentException("An inversion needs at least one unconditional embedding");
        }
        if (method == Inversion.NEGATIVE_PROMPT && this.unconditionals.size() != 1) {
            throw new IllegalArgumentException("Negative-prompt inversion saves one embedding, not "
                    + this.unconditionals.size());
        }
        if (fingerprint.containsKey(METHOD_KEY)) {
            throw new IllegalArgumentException("The fingerprint field name '" + METHOD_KEY + "' is reserved");
        }
    }

    public Tensor inverted() {
        return inverted;
    }

    public Inversion method() {
        return method;
    }

    /** The unconditional embeddings: one per step for null-text inversion, one for negative-prompt inversion. */
    public List<Tensor> unconditionals() {
        return unconditionals;
    }

    public Map<String, String> fingerprint() {
        return fingerprint;
    }

    /** The file this inversion was read from, if it was. */
    public Optional<Path> source() {
        return Optional.ofNullable(source);
    }

    /** Writes this inversion to {@code file} (replacing it). */
    public void write(Path file) {
        write(file, Map.of());
    }

    /**
     * Writes this inversion to {@code file} (replacing it) with other tensors beside it, first and in their map's
     * order.
     *
     * @param alongside tensors that {@link #read} leaves alone; their names must not be {@value #INVERTED} nor start
     *                  with {@value #UNCONDITIONAL_PREFIX}
     */
    public void write(Path file, Map<String, Tensor> alongside) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> other : alongside.entrySet()) {
            if (other.getKey().equals(INVERTED) || other.getKey().startsWith(UNCONDITIONAL_PREFIX)) {
                throw new IllegalArgumentException("The tensor name '" + other.getKey() + "' is an inversion's");
            }
            tensors.put(other.getKey(), other.getValue());
        }
        tensors.put(INVERTED, inverted);
        for (int i = 0; i < unconditionals.size(); i++) {
            tensors.put(UNCONDITIONAL_PREFIX + i, unconditionals.get(i));
        }
        Map<String, String> metadata = new TreeMap<>(fingerprint);
        metadata.put(METHOD_KEY, method.name());
        SafetensorsWriter.write(file, tensors, metadata);
    }

    /**
     * Reads an inversion file.
     *
     * @throws ModelFormatException naming the file and the tensor or metadata field when it is not an inversion
     *                              file
     */
    public static SavedInversion read(Path file) {
        try (SafetensorsFile in = SafetensorsFile.open(file)) {
            Map<String, String> metadata = new LinkedHashMap<>(in.metadata());
            String methodName = metadata.remove(METHOD_KEY);
            if (methodName == null) {
                throw new ModelFormatException(file, "not an inversion file: its metadata has no '" + METHOD_KEY
                        + "' field (write one with `suppress invert` or `edit --save-latents`)");
            }
            Inversion method;
            try {
                method = Inversion.valueOf(methodName);
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(file, "unknown inversion method '" + methodName + "' in metadata '"
                        + METHOD_KEY + "'; known: " + Arrays.toString(Inversion.values()));
            }
            if (!in.contains(INVERTED)) {
                throw new ModelFormatException(file, "not an inversion file: it has no tensor '" + INVERTED
                        + "'; it has " + in.names());
            }
            Tensor inverted = in.tensor(INVERTED);
            if (!isLatentShape(inverted.shape())) {
                throw new ModelFormatException(file, "tensor '" + INVERTED + "' has shape "
                        + Arrays.toString(inverted.shape())
                        + ", an inverted latent is [1, 4, h, w]");
            }
            List<Tensor> unconditionals = new ArrayList<>();
            while (in.contains(UNCONDITIONAL_PREFIX + unconditionals.size())) {
                unconditionals.add(in.tensor(UNCONDITIONAL_PREFIX + unconditionals.size()));
            }
            if (unconditionals.isEmpty()) {
                throw new ModelFormatException(file, "no tensor '" + UNCONDITIONAL_PREFIX + "0': an inversion file "
                        + "holds the inversion's unconditional embeddings");
            }
            int expected = method == Inversion.NEGATIVE_PROMPT ? 1 : unconditionals.size();
            for (String name : in.names()) {
                if (!name.startsWith(UNCONDITIONAL_PREFIX)) {
                    continue;
                }
                int index = indexOf(name);
                if (index < 0 || index >= expected) {
                    throw new ModelFormatException(file, "unexpected tensor '" + name + "' in a " + method
                            + " inversion file (it holds '" + INVERTED + "' and " + expected + " '"
                            + UNCONDITIONAL_PREFIX + "<step>' tensors)");
                }
            }
            int[] first = unconditionals.get(0).shape();
            for (int i = 1; i < unconditionals.size(); i++) {
                if (!Arrays.equals(first, unconditionals.get(i).shape())) {
                    throw new ModelFormatException(file, "tensor '" + UNCONDITIONAL_PREFIX + i + "' has shape "
                            + Arrays.toString(unconditionals.get(i).shape()) + ", '" + UNCONDITIONAL_PREFIX
                            + "0' has " + Arrays.toString(first));
                }
            }
            return new SavedInversion(inverted, method, unconditionals, metadata, file);
        }
    }

    private static String describe(Path file) {
        return file == null ? "The saved inversion" : "The inversion file " + file;
    }

    /**
     * Checks that the tensors fit an edit (after {@link #requireFingerprint}, which compares what they were made
     * from).
     *
     * @param file      the file it was read from, for the message ({@code null}: an inversion made in memory)
     * @param latent    the edit's latent shape {@code [1, 4, h, w]}
     * @param embedding the shape of the edit's prompt embedding {@code [77, M]}
     * @param steps     the edit's step count: the number of null-text embeddings
     * @throws IllegalArgumentException naming the tensor, its shape and the one expected
     */
    public void requireShapes(Path file, int[] latent, int[] embedding, int steps) {
        if (!Arrays.equals(latent, inverted.shape())) {
            throw new IllegalArgumentException(describe(file) + " holds tensor '" + INVERTED + "' of shape "
                    + Arrays.toString(inverted.shape()) + ", this edit starts from a latent of shape "
                    + Arrays.toString(latent));
        }
        int expected = method == Inversion.NULL_TEXT ? steps : 1;
        if (unconditionals.size() != expected) {
            throw new IllegalArgumentException(describe(file) + " holds " + unconditionals.size() + " '"
                    + UNCONDITIONAL_PREFIX + "<step>' tensors, a " + method + " inversion for " + steps
                    + " steps has " + expected);
        }
        for (int i = 0; i < unconditionals.size(); i++) {
            if (!Arrays.equals(embedding, unconditionals.get(i).shape())) {
                throw new IllegalArgumentException(describe(file) + " holds tensor '" + UNCONDITIONAL_PREFIX + i
                        + "' of shape " + Arrays.toString(unconditionals.get(i).shape()) + ", this model's text "
                        + "embeddings are " + Arrays.toString(embedding));
            }
        }
    }

    private static boolean isLatentShape(int[] shape) {
        return shape.length == 4 && shape[0] == 1 && shape[1] == 4;
    }

    private static int indexOf(String name) {
        String digits = name.substring(UNCONDITIONAL_PREFIX.length());
        if (digits.isEmpty() || digits.length() > 9 || !digits.chars().allMatch(Character::isDigit)) {
            return -1;
        }
        return Integer.parseInt(digits);
    }

    /**
     * Checks that this inversion was made for what a new edit asks.
     *
     * @param file     the file it was read from, for the message ({@code null}: an inversion made in memory)
     * @param method   the inversion the edit asks for
     * @param expected the edit's fingerprint, field name to exact value, compared in its iteration order (put the
     *                 fields whose values a reader understands, such as the size, before digests)
     * @throws IllegalArgumentException naming the first field that differs, with both values
     */
    public void requireFingerprint(Path file, Inversion method, Map<String, String> expected) {
        if (this.method != method) {
            throw new IllegalArgumentException(describe(file) + " was made with inversion "
                    + this.method + ", this edit asks for " + method);
        }
        for (Map.Entry<String, String> field : expected.entrySet()) {
            String saved = fingerprint.get(field.getKey());
            if (!field.getValue().equals(saved)) {
                throw new IllegalArgumentException(describe(file) + " was made with "
                        + field.getKey() + " " + (saved == null ? "(not recorded)" : saved)
                        + ", this edit asks for " + field.getValue());
            }
        }
        for (String key : new TreeSet<>(fingerprint.keySet())) {
            if (!expected.containsKey(key)) {
                throw new IllegalArgumentException(describe(file) + " records " + key + " "
                        + fingerprint.get(key) + ", which this edit does not fix; it cannot be checked");
            }
        }
        if (method == Inversion.NULL_TEXT && expected.containsKey("steps")
                && !String.valueOf(unconditionals.size()).equals(expected.get("steps"))) {
            throw new IllegalArgumentException(describe(file) + " holds " + unconditionals.size()
                    + " null-text embeddings, this edit asks for " + expected.get("steps") + " steps");
        }
    }
}
