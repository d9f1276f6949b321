package dev.suppress.core.io;

/** The element types of the safetensors format, with their size in bytes. */
public enum SafetensorsDType {
    BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1),
    I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private final int byteSize;

    SafetensorsDType(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** True for the types this library converts to float32: F32, F16, BF16, F64, I32, I64. */
    public boolean convertibleToFloat() {
        return switch (this) {
            case F32, F16, BF16, F64, I32, I64 -> true;
            default -> false;
        };
    }

    /**
     * The dtype spelled as in a safetensors header ({@code "F32"}, {@code "BF16"}, ...).
     *
     * @return {@code null} when the name is not a safetensors dtype
     */
    static SafetensorsDType parseOrNull(String name) {
        try {
            return valueOf(name);
        } catch (IllegalArgumentException unknown) {
            return null;
        }
    }
}
