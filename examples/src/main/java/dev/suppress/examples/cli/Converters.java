package dev.suppress.examples.cli;

import dev.suppress.core.ItoWindow;
import dev.suppress.core.Mode;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.attention.HeadAveraging;
import dev.suppress.core.attention.LossWeights;
import dev.suppress.core.backend.Device;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.swr.SoftWeightedRegularization;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

import java.util.Locale;
import java.util.Map;

/**
 * Turns option values into the library's types; a value that is none of the choices is a usage error naming the
 * value and the choices.
 */
final class Converters {

    private Converters() {
    }

    /** {@code --swr}: the reference's {@code method} names (ALGORITHM.md §2). */
    static final class SwrVariantConverter implements ITypeConverter<SoftWeightedRegularization.Variant> {
        static final Map<String, SoftWeightedRegularization.Variant> NAMES = Map.of(
                "soft-weight", SoftWeightedRegularization.Variant.SOFT_WEIGHT,
                "alpha", SoftWeightedRegularization.Variant.ALPHA,
                "beta", SoftWeightedRegularization.Variant.BETA,
                "delete", SoftWeightedRegularization.Variant.DELETE,
                "weight", SoftWeightedRegularization.Variant.WEIGHT);

        @Override
        public SoftWeightedRegularization.Variant convert(String value) {
            return choose(NAMES, value, "soft-weight, alpha, beta, delete, weight");
        }
    }

    /** {@code --head-averaging}. */
    static final class HeadAveragingConverter implements ITypeConverter<HeadAveraging> {
        static final Map<String, HeadAveraging> NAMES = Map.of(
                "first-half", HeadAveraging.FIRST_HALF_OF_HEADS,
                "all", HeadAveraging.ALL_HEADS);

        @Override
        public HeadAveraging convert(String value) {
            return choose(NAMES, value, "first-half, all");
        }
    }

    /** {@code --mode}. */
    static final class InversionConverter implements ITypeConverter<Inversion> {
        static final Map<String, Inversion> NAMES = Map.of("nt", Inversion.NULL_TEXT, "npi",
                Inversion.NEGATIVE_PROMPT);

        @Override
        public Inversion convert(String value) {
            return choose(NAMES, value, "nt, npi");
        }
    }

    static final class ModeConverter implements ITypeConverter<Mode> {
        static final Map<String, Mode> NAMES = Map.of("fast", Mode.FAST, "reference", Mode.REFERENCE);

        @Override
        public Mode convert(String value) {
            return choose(NAMES, value, "fast, reference");
        }
    }

    /** {@code --backend}: the {@link dev.suppress.core.backend.BackendProvider} names. */
    static final class BackendConverter implements ITypeConverter<String> {
        static final Map<String, String> NAMES = Map.of("djl", "djl", "onnx", "onnx");

        @Override
        public String convert(String value) {
            return choose(NAMES, value, "djl, onnx");
        }
    }

    /** {@code --device}: {@code cpu}, {@code gpu}, {@code gpu:N}. */
    static final class DeviceConverter implements ITypeConverter<Device> {
        @Override
        public Device convert(String value) {
            try {
                return Device.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --precision}: {@code fp32}, {@code bf16}, {@code fp16}, {@code auto}. */
    static final class PrecisionConverter implements ITypeConverter<Precision> {
        @Override
        public Precision convert(String value) {
            try {
                return Precision.parse(value);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --loss-weights r,e,sr,se}: the four λ of the attention loss (ALGORITHM.md §4). */
    static final class LossWeightsConverter implements ITypeConverter<LossWeights> {
        @Override
        public LossWeights convert(String value) {
            String[] parts = value.split(",", -1);
            if (parts.length != 4) {
                throw new TypeConversionException("expected four comma-separated numbers r,e,sr,se (retain, erase, "
                        + "self-retain, self-erase; the reference's are 1,-0.5,1,-0.5), got '" + value + "'");
            }
            double[] weights = new double[4];
            for (int i = 0; i < 4; i++) {
                try {
                    weights[i] = Double.parseDouble(parts[i].trim());
                } catch (NumberFormatException e) {
                    throw new TypeConversionException("'" + parts[i] + "' in '" + value + "' is not a number");
                }
            }
            try {
                return new LossWeights(weights[0], weights[1], weights[2], weights[3]);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --ito-window start:end}: ITO at steps i with start <= i/steps < end. */
    static final class ItoWindowConverter implements ITypeConverter<ItoWindow> {
        @Override
        public ItoWindow convert(String value) {
            String[] parts = value.split(":", -1);
            if (parts.length != 2) {
                throw new TypeConversionException("expected fractions start:end of the schedule (the reference's is "
                        + "0.2:0.4), got '" + value + "'");
            }
            try {
                return ItoWindow.fractions(Double.parseDouble(parts[0].trim()), Double.parseDouble(parts[1].trim()));
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not two numbers start:end");
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --ito-steps first-last}: ITO at explicit steps, both included. */
    static final class ItoStepsConverter implements ITypeConverter<ItoWindow> {
        @Override
        public ItoWindow convert(String value) {
            String[] parts = value.split("-", -1);
            if (parts.length > 2) {
                throw new TypeConversionException("expected steps first-last (0-based, e.g. 10-19), got '" + value
                        + "'");
            }
            try {
                int first = Integer.parseInt(parts[0].trim());
                int last = parts.length == 2 ? Integer.parseInt(parts[1].trim()) : first;
                return ItoWindow.steps(first, last);
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not steps first-last (e.g. 10-19)");
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    private static <T> T choose(Map<String, T> names, String value, String choices) {
        T chosen = names.get(value.trim().toLowerCase(Locale.ROOT));
        if (chosen == null) {
            throw new TypeConversionException("'" + value + "' is not one of " + choices);
        }
        return chosen;
    }
}
