package dev.suppress.djl.weights;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * One parsed {@code config.json} (or {@code scheduler_config.json}) of a model part, with typed getters whose errors name the file and the field.
 *
 * <p>A field that is absent or {@code null} takes the default the getter is given, as the diffusers/transformers
 * constructor defaults do.
 */
public final class ConfigJson {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Path file;
    private final JsonNode root;

    private ConfigJson(Path file, JsonNode root) {
        this.file = file;
        this.root = root;
    }

    /**
     * Reads {@code folder/config.json}.
     *
     * @throws ModelFormatException when the file is missing or is not a JSON object
     */
    public static ConfigJson read(Path folder) {
        return read(folder, "config.json");
    }

    /**
     * Reads {@code folder/fileName} ({@code scheduler_config.json} for the scheduler).
     *
     * @throws ModelFormatException when the file is missing or is not a JSON object
     */
    public static ConfigJson read(Path folder, String fileName) {
        Path file = folder.resolve(fileName);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file, "Missing " + fileName + " of model part '" + folder.getFileName()
                    + "'");
        }
        JsonNode root;
        try {
            root = MAPPER.readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelFormatException(file, fileName + " is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file, fileName + " must hold a JSON object");
        }
        return new ConfigJson(file, root);
    }

    /** The file this was read from. */
    public Path file() {
        return file;
    }

    /** True when the field is absent or JSON {@code null}. */
    public boolean isAbsent(String field) {
        JsonNode node = root.get(field);
        return node == null || node.isNull();
    }

    /** True when the field is present with the value JSON {@code null} (which can differ from absent). */
    public boolean isPresentNull(String field) {
        JsonNode node = root.get(field);
        return node != null && node.isNull();
    }

    /**
     * Fails unless the field is absent, null, {@code false} or a list of {@code false}: diffusers' per-block
     * boolean options that this backend implements only when off.
     */
    public void requireFalseOrAllFalse(String field) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull() || (node.isBoolean() && !node.booleanValue())) {
            return;
        }
        if (node.isArray()) {
            boolean allFalse = true;
            for (JsonNode element : node) {
                allFalse &= element.isBoolean() && !element.booleanValue();
            }
            if (allFalse) {
                return;
            }
        }
        throw new ModelFormatException(file, "Unsupported " + field + " = " + node + ": this backend implements only "
                + field + " = false (the Stable Diffusion 1.x/2.x configuration)");
    }

    /** An integer field. */
    public int intValue(String field, int defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return defaultValue;
        }
        return toInt(field, node);
    }

    /**
     * The largest size a config may give a dimension, a layer count or a vocabulary. Real models stay far below it
     * (SDXL's widest layer has 10240 features, CLIP's vocabulary 49408 entries); a larger number is a broken or
     * hostile file, refused here before anything is sized by it.
     */
    public static final int MAX_DIMENSION = 1 << 17;

    /** A size (channels, features, layers, heads, a vocabulary): an integer in {@code 1 ..} {@link #MAX_DIMENSION}. */
    public int dimension(String field, int defaultValue) {
        return checkDimension(field, intValue(field, defaultValue));
    }

    /** {@link #intList} of sizes, each in {@code 1 ..} {@link #MAX_DIMENSION}. */
    public List<Integer> dimensions(String field) {
        List<Integer> values = intList(field);
        values.forEach(value -> checkDimension(field, value));
        return values;
    }

    /** {@link #intPerBlock} of sizes, each in {@code 1 ..} {@link #MAX_DIMENSION}. */
    public List<Integer> dimensionsPerBlock(String field, int blocks, Integer defaultValue) {
        List<Integer> values = intPerBlock(field, blocks, defaultValue);
        values.forEach(value -> checkDimension(field, value));
        return values;
    }

    private int checkDimension(String field, int value) {
        if (value < 1 || value > MAX_DIMENSION) {
            throw new ModelFormatException(file, "Field '" + field + "' must be a size from 1 to " + MAX_DIMENSION
                    + ", found " + value);
        }
        return value;
    }

    /** An integer field that must be present. */
    public int requiredInt(String field) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            throw new ModelFormatException(file, "Missing field '" + field + "'");
        }
        return toInt(field, node);
    }

    /** A number field. */
    public double doubleValue(String field, double defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return defaultValue;
        }
        if (!node.isNumber()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be a number, found " + node);
        }
        return node.doubleValue();
    }

    /** A boolean field. */
    public boolean booleanValue(String field, boolean defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return defaultValue;
        }
        if (!node.isBoolean()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be true or false, found " + node);
        }
        return node.booleanValue();
    }

    /** A string field. */
    public String stringValue(String field, String defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return defaultValue;
        }
        if (!node.isTextual()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be a string, found " + node);
        }
        return node.textValue();
    }

    /** A list of strings. */
    public List<String> stringList(String field, List<String> defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return defaultValue;
        }
        if (!node.isArray()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be a list of strings, found " + node);
        }
        List<String> out = new ArrayList<>();
        for (JsonNode element : node) {
            if (!element.isTextual()) {
                throw new ModelFormatException(file, "Field '" + field + "' must be a list of strings, found " + node);
            }
            out.add(element.textValue());
        }
        return List.copyOf(out);
    }

    /**
     * A field that diffusers accepts as one integer or as one integer per block: the per-block list, an integer
     * repeated {@code blocks} times.
     *
     * @param defaultValue used when the field is absent
     */
    public List<Integer> intPerBlock(String field, int blocks, Integer defaultValue) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            if (defaultValue == null) {
                throw new ModelFormatException(file, "Missing field '" + field + "'");
            }
            return repeat(defaultValue, blocks);
        }
        if (node.isArray()) {
            if (node.size() != blocks) {
                throw new ModelFormatException(file, "Field '" + field + "' has " + node.size()
                        + " entries but the model has " + blocks + " blocks");
            }
            List<Integer> out = new ArrayList<>();
            for (JsonNode element : node) {
                out.add(toInt(field, element));
            }
            return List.copyOf(out);
        }
        return repeat(toInt(field, node), blocks);
    }

    /** A list of integers. */
    public List<Integer> intList(String field) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull() || !node.isArray() || node.isEmpty()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be a non-empty list of integers, found "
                    + node);
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode element : node) {
            out.add(toInt(field, element));
        }
        return List.copyOf(out);
    }

    /**
     * Fails unless the field is absent, null or equal to {@code supported}: for options this backend does not
     * implement, so that such a model is refused by name instead of computed wrongly.
     *
     * @param supported the one accepted JSON value as text ({@code "false"}, {@code "\"default\""}), or {@code null}
     *                  when only absence/null is accepted
     */
    public void requireAbsentOr(String field, String supported) {
        JsonNode node = root.get(field);
        if (node == null || node.isNull()) {
            return;
        }
        if (supported != null && node.toString().equals(supported)) {
            return;
        }
        throw new ModelFormatException(file, "Unsupported " + field + " = " + node + ": this backend implements only "
                + field + " = " + (supported == null ? "null" : supported)
                + " (the Stable Diffusion 1.x/2.x configuration)");
    }

    /** A {@link ModelFormatException} about this file. */
    public ModelFormatException error(String message) {
        return new ModelFormatException(file, message);
    }

    private int toInt(String field, JsonNode node) {
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw new ModelFormatException(file, "Field '" + field + "' must be an integer, found " + node);
        }
        return node.intValue();
    }

    private static List<Integer> repeat(int value, int times) {
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < times; i++) {
            out.add(value);
        }
        return List.copyOf(out);
    }

    @Override
    public String toString() {
        return "ConfigJson[" + Objects.toString(file) + "]";
    }
}
