package dev.suppress.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionRequest;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.swr.SoftWeightedRegularization;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.internal.text.TokenIndices;
import dev.suppress.core.text.TokenizedPrompt;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The options of a job as a client sends them: a JSON object whose field names are the CLI's long options in
 * camelCase ({@code --ito-iterations} is {@code itoIterations}, {@code --size} is {@code size}, {@code --width} and
 * {@code --height} are {@code width} and {@code height}), each with the
 * CLI's values ({@code "mode": "reference"}, {@code "swr": "soft-weight"}). A field that is absent keeps the
 * library's default (see {@link SuppressionRequest}).
 *
 * <p>Everything is checked here, before a job is queued: unknown fields, wrong JSON types, values that are none of
 * the choices, the library's own checks of the request ({@link SuppressionRequest.Builder#build()}), and whether
 * each word to suppress is in the prompt ({@link TokenIndices}). Each failure is a {@link BadRequestException}
 * naming the field, with the library's message where the library found it.
 */
final class JobOptions {

    /** Every field of a generation, in the order the README lists them. */
    static final Set<String> GENERATE_FIELDS = Set.of("prompt", "suppress", "tokenIndices", "seed", "steps",
            "guidance", "swr", "alpha", "strengthen", "tau", "itoIterations", "itoStepScale", "maxItoStep",
            "lossWeights", "negativePrompt", "headAveraging", "attentionResolution", "size", "width", "height",
            "mode", "suppressedOnly", "clipSkip");

    /** The fields only an edit has (besides the uploaded photo). */
    static final Set<String> EDIT_FIELDS = Set.of("inversion", "nullTextSteps");

    static final Map<String, SoftWeightedRegularization.Variant> SWR_NAMES = Map.of(
            "soft-weight", SoftWeightedRegularization.Variant.SOFT_WEIGHT,
            "alpha", SoftWeightedRegularization.Variant.ALPHA,
            "beta", SoftWeightedRegularization.Variant.BETA,
            "delete", SoftWeightedRegularization.Variant.DELETE,
            "weight", SoftWeightedRegularization.Variant.WEIGHT);
    static final Map<String, HeadAveraging> HEAD_AVERAGING_NAMES = Map.of(
            "first-half", HeadAveraging.FIRST_HALF_OF_HEADS, "all", HeadAveraging.ALL_HEADS);
    static final Map<String, Mode> MODE_NAMES = Map.of("fast", Mode.FAST, "reference", Mode.REFERENCE);
    static final Map<String, Inversion> INVERSION_NAMES = Map.of("nt", Inversion.NULL_TEXT,
            "npi", Inversion.NEGATIVE_PROMPT);

    /**
     * The library's names of request components, as its messages start with them, to the JSON field they come from
     * (the library says {@code "guidanceScale must be finite"}; the client sent {@code guidance}).
     */
    private static final Map<String, String> LIBRARY_NAMES = libraryNames();

    /** The swr variant when {@code swr} is given without {@code alpha}: the request builder's default α. */
    private static final double DEFAULT_ALPHA = 1.0;

    private final ObjectNode given;
    private final String prompt;
    private final List<String> suppress;
    private final List<Integer> tokenIndices;
    private final Long seed;
    private final Integer steps;
    private final Double guidance;
    private final SoftWeightedRegularization.Variant swr;
    private final Double alpha;
    private final boolean strengthen;
    private final Double tau;
    private final Integer itoIterations;
    private final Double itoStepScale;
    private final Integer maxItoStep;
    private final LossWeights lossWeights;
    private final String negativePrompt;
    private final HeadAveraging headAveraging;
    private final Integer attentionResolution;
    private final Integer size;
    private final Integer width;
    private final Integer height;
    private final Integer clipSkip;
    private final Mode mode;
    private final boolean suppressedOnly;
    private final Inversion inversion;
    private final Integer nullTextSteps;

    private JobOptions(ObjectNode json, boolean edit) {
        Set<String> allowed = new java.util.HashSet<>(GENERATE_FIELDS);
        if (edit) {
            allowed.addAll(EDIT_FIELDS);
        }
        for (Iterator<String> names = json.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!allowed.contains(name)) {
                String hint = EDIT_FIELDS.contains(name) ? " (it belongs to an edit: send the photo as 'image')"
                        : "";
                throw new BadRequestException(name, "Unknown field '" + name + "'" + hint + "; the fields are "
                        + sorted(allowed));
            }
        }
        this.given = json.deepCopy();
        JsonNode promptNode = json.get("prompt");
        if (promptNode == null || promptNode.isNull()) {
            throw new BadRequestException("prompt", "Field 'prompt' is required: the text to generate from, e.g. "
                    + "\"a man without glasses\"");
        }
        this.prompt = text(json, "prompt");
        this.suppress = words(json);
        this.tokenIndices = integers(json, "tokenIndices");
        this.seed = json.has("seed") ? longValue(json, "seed") : null;
        this.steps = integer(json, "steps");
        this.guidance = number(json, "guidance");
        this.swr = choice(json, "swr", SWR_NAMES);
        this.alpha = number(json, "alpha");
        this.strengthen = bool(json, "strengthen");
        this.tau = number(json, "tau");
        this.itoIterations = integer(json, "itoIterations");
        this.itoStepScale = number(json, "itoStepScale");
        this.maxItoStep = integer(json, "maxItoStep");
        this.lossWeights = lossWeights(json);
        this.negativePrompt = json.has("negativePrompt") ? text(json, "negativePrompt") : null;
        this.headAveraging = choice(json, "headAveraging", HEAD_AVERAGING_NAMES);
        this.attentionResolution = integer(json, "attentionResolution");
        this.size = integer(json, "size");
        this.width = integer(json, "width");
        this.height = integer(json, "height");
        this.clipSkip = integer(json, "clipSkip");
        if (size != null && (width != null || height != null)) {
            throw new BadRequestException("size", "'size' sets both the width and the height; send either 'size' "
                    + "or 'width'/'height', not both");
        }
        this.mode = choice(json, "mode", MODE_NAMES);
        this.suppressedOnly = bool(json, "suppressedOnly");
        this.inversion = choice(json, "inversion", INVERSION_NAMES);
        this.nullTextSteps = integer(json, "nullTextSteps");
        if (strengthen && swr != null) {
            throw new BadRequestException("swr", "'strengthen' and 'swr' exclude each other: strengthening is its "
                    + "own regularization");
        }
    }

    /**
     * Reads and checks the options of a generation.
     *
     * @param json      the request body
     * @param tokenizer the loaded model's tokenizer, to check the words against the prompt
     * @throws BadRequestException naming the field
     */
    static Checked<SuppressionRequest> generation(JsonNode json, ClipTokenizer tokenizer) {
        JobOptions options = new JobOptions(object(json), false);
        SuppressionRequest.Builder builder = options.applyTo(SuppressionRequest.builder(options.prompt));
        SuppressionRequest request = build(builder::build);
        return new Checked<>(request, options.echo(true), options.check(tokenizer));
    }

    /**
     * Reads and checks the options of an edit of {@code photo}.
     *
     * @throws BadRequestException naming the field
     */
    static Checked<ImageEditRequest> edit(JsonNode json, BufferedImage photo, ClipTokenizer tokenizer) {
        JobOptions options = new JobOptions(object(json), true);
        if (options.seed != null) {
            throw new BadRequestException("seed", "An edit has no seed: the inversion of the photo gives the "
                    + "initial latent");
        }
        ImageEditRequest.Builder builder = ImageEditRequest.builder(photo, options.prompt)
                .suppression(options::applyTo);
        if (options.inversion != null) {
            builder.inversion(options.inversion);
        }
        if (options.nullTextSteps != null) {
            NullTextOptions defaults = NullTextOptions.REFERENCE;
            try {
                builder.nullText(new NullTextOptions(options.nullTextSteps, defaults.earlyStopEpsilon(),
                        defaults.baseLearningRate()));
            } catch (IllegalArgumentException e) {
                throw new BadRequestException("nullTextSteps", e.getMessage(), e);
            }
        }
        ImageEditRequest request = build(builder::build);
        return new Checked<>(request, options.echo(false), options.check(tokenizer));
    }

    /**
     * A request that passed every check.
     *
     * @param request          what to run
     * @param options          the fields as given, plus the seed when it was left to its default, so that a
     *                         result can be reproduced from them
     * @param suppressedTokens the prompt-token indices the words and indices resolve to, ascending
     */
    record Checked<R>(R request, ObjectNode options, List<Integer> suppressedTokens) {
    }

    /** Runs the library's checks: an {@link IllegalArgumentException} becomes a 400 naming the field. */
    private static <R> R build(Supplier<R> build) {
        try {
            return build.get();
        } catch (IllegalArgumentException e) {
            throw new BadRequestException(fieldOf(e.getMessage()), e.getMessage(), e);
        }
    }

    /** Applies every given field, as the CLI's {@code RequestOptions.applyTo} does. */
    private SuppressionRequest.Builder applyTo(SuppressionRequest.Builder builder) {
        if (suppress != null) {
            builder.suppress(suppress.toArray(String[]::new));
        }
        if (tokenIndices != null) {
            builder.suppressTokenIndices(tokenIndices.stream().mapToInt(Integer::intValue).toArray());
        }
        if (strengthen) {
            // first, so that an explicit itoIterations below overrides the zero it sets
            builder.strengthen();
        }
        if (swr != null) {
            builder.regularization(swr, DEFAULT_ALPHA);
        }
        if (alpha != null) {
            builder.alpha(alpha);
        }
        if (seed != null) {
            builder.seed(seed);
        }
        if (steps != null) {
            builder.steps(steps);
        }
        if (guidance != null) {
            builder.guidanceScale(guidance);
        }
        if (tau != null) {
            builder.tau(tau);
        }
        if (itoIterations != null) {
            builder.itoIterations(itoIterations);
        }
        if (itoStepScale != null) {
            builder.itoStepScale(itoStepScale);
        }
        if (maxItoStep != null) {
            builder.maxItoStep(maxItoStep);
        }
        if (lossWeights != null) {
            builder.lossWeights(lossWeights);
        }
        if (negativePrompt != null) {
            builder.negativePrompt(negativePrompt);
        }
        if (headAveraging != null) {
            builder.itoHeadAveraging(headAveraging);
        }
        if (attentionResolution != null) {
            builder.attentionResolution(attentionResolution);
        }
        if (size != null) {
            builder.imageSize(size);
        }
        if (width != null) {
            builder.width(width);
        }
        if (height != null) {
            builder.height(height);
        }
        if (clipSkip != null) {
            builder.clipSkip(clipSkip);
        }
        if (mode != null) {
            builder.mode(mode);
        }
        if (suppressedOnly) {
            builder.suppressedOnly(true);
        }
        return builder;
    }

    /** The words and indices against the prompt's tokens: a word not in the prompt fails now, not in the queue. */
    private List<Integer> check(ClipTokenizer tokenizer) {
        TokenizedPrompt tokenized = tokenizer.tokenize(prompt);
        int[] fromWords;
        try {
            fromWords = TokenIndices.resolveAll(tokenizer, tokenized, suppress != null ? suppress : List.of());
        } catch (IllegalArgumentException e) {
            throw new BadRequestException("suppress", e.getMessage(), e);
        }
        int[] explicit;
        try {
            explicit = TokenIndices.validate(tokenized, tokenIndices != null
                    ? tokenIndices.stream().mapToInt(Integer::intValue).toArray() : new int[0]);
        } catch (IllegalArgumentException e) {
            throw new BadRequestException("tokenIndices", e.getMessage(), e);
        }
        java.util.TreeSet<Integer> all = new java.util.TreeSet<>();
        for (int index : fromWords) {
            all.add(index);
        }
        for (int index : explicit) {
            all.add(index);
        }
        return List.copyOf(all);
    }

    private ObjectNode echo(boolean generation) {
        ObjectNode echo = given.deepCopy();
        if (generation && seed == null) {
            // the library's default seed, written out: the options alone then reproduce the image
            echo.put("seed", 0L);
        }
        return echo;
    }

    /** The field a library message is about: the request component its first word names. */
    static String fieldOf(String message) {
        if (message == null) {
            return null;
        }
        if (message.startsWith("Name at least one word") || message.startsWith("A word to suppress")
                || message.startsWith("Word '")) {
            return "suppress";
        }
        if (message.startsWith("Token index") || message.startsWith("Negative token index")) {
            return "tokenIndices";
        }
        if (message.startsWith("SWR")) {
            return "alpha";
        }
        if (message.startsWith("Loss weights")) {
            return "lossWeights";
        }
        if (message.startsWith("A negative prompt")) {
            return "negativePrompt";
        }
        if (message.startsWith("Null-text inversion")) {
            return "inversion";
        }
        if (message.startsWith("Editing works on square images")) {
            return "width";
        }
        String first = message.split("[^A-Za-z]", 2)[0];
        return LIBRARY_NAMES.getOrDefault(first, null);
    }

    private static Map<String, String> libraryNames() {
        Map<String, String> names = new LinkedHashMap<>();
        for (String same : List.of("steps", "tau", "itoIterations", "itoStepScale", "maxItoStep",
                "attentionResolution", "initialLatent", "clipSkip")) {
            names.put(same, same);
        }
        names.put("guidanceScale", "guidance");
        names.put("imageSize", "size");
        names.put("width", "width");
        names.put("height", "height");
        return Map.copyOf(names);
    }

    private static ObjectNode object(JsonNode json) {
        if (json == null || !json.isObject()) {
            throw new BadRequestException(null, "The job's options must be a JSON object such as {\"prompt\": "
                    + "\"a man without glasses\", \"suppress\": [\"glasses\"]}, got "
                    + (json == null ? "nothing" : json.getNodeType().name().toLowerCase(Locale.ROOT)));
        }
        return (ObjectNode) json;
    }

    private static String text(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (!node.isTextual()) {
            throw wrongType(field, "a string", node);
        }
        return node.textValue();
    }

    /** {@code suppress}: a list of words or phrases, or one word as a string. */
    private static List<String> words(JsonNode json) {
        JsonNode node = json.get("suppress");
        if (node == null || node.isNull()) {
            return null;
        }
        if (node.isTextual()) {
            return List.of(node.textValue());
        }
        if (!node.isArray()) {
            throw wrongType("suppress", "a list of words such as [\"glasses\"]", node);
        }
        List<String> words = new ArrayList<>();
        for (JsonNode word : node) {
            if (!word.isTextual()) {
                throw wrongType("suppress", "a list of words (strings)", word);
            }
            words.add(word.textValue());
        }
        return words;
    }

    private static List<Integer> integers(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isArray()) {
            throw wrongType(field, "a list of integers such as [4]", node);
        }
        List<Integer> values = new ArrayList<>();
        for (JsonNode value : node) {
            if (!value.isIntegralNumber() || !value.canConvertToInt()) {
                throw wrongType(field, "a list of integers", value);
            }
            values.add(value.intValue());
        }
        return values;
    }

    private static Integer integer(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToInt()) {
            throw wrongType(field, "an integer", node);
        }
        return node.intValue();
    }

    private static Long longValue(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (node.isNull()) {
            return null;
        }
        if (!node.isIntegralNumber() || !node.canConvertToLong()) {
            throw wrongType(field, "an integer", node);
        }
        return node.longValue();
    }

    private static Double number(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isNumber()) {
            throw wrongType(field, "a number", node);
        }
        return node.doubleValue();
    }

    private static boolean bool(JsonNode json, String field) {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) {
            return false;
        }
        if (!node.isBoolean()) {
            throw wrongType(field, "true or false", node);
        }
        return node.booleanValue();
    }

    private static <T> T choice(JsonNode json, String field, Map<String, T> names) {
        JsonNode node = json.get(field);
        if (node == null || node.isNull()) {
            return null;
        }
        String choices = String.join(", ", sorted(names.keySet()));
        if (!node.isTextual()) {
            throw wrongType(field, "one of " + choices, node);
        }
        T chosen = names.get(node.textValue().trim().toLowerCase(Locale.ROOT));
        if (chosen == null) {
            throw new BadRequestException(field, "Field '" + field + "': '" + node.textValue() + "' is not one of "
                    + choices);
        }
        return chosen;
    }

    /** {@code lossWeights}: {@code [r, e, sr, se]}, the four λ of the attention loss (ALGORITHM.md §4). */
    private static LossWeights lossWeights(JsonNode json) {
        JsonNode node = json.get("lossWeights");
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isArray() || node.size() != 4) {
            throw wrongType("lossWeights", "four numbers [retain, erase, selfRetain, selfErase] (the reference's "
                    + "are [1, -0.5, 1, -0.5])", node);
        }
        double[] weights = new double[4];
        for (int i = 0; i < 4; i++) {
            if (!node.get(i).isNumber()) {
                throw wrongType("lossWeights", "four numbers", node);
            }
            weights[i] = node.get(i).doubleValue();
        }
        try {
            return new LossWeights(weights[0], weights[1], weights[2], weights[3]);
        } catch (IllegalArgumentException e) {
            throw new BadRequestException("lossWeights", e.getMessage(), e);
        }
    }

    private static BadRequestException wrongType(String field, String expected, JsonNode found) {
        return new BadRequestException(field, "Field '" + field + "' must be " + expected + ", got " + found);
    }

    private static List<String> sorted(Set<String> names) {
        return names.stream().sorted().toList();
    }
}
