package dev.suppress.core.io;

import java.nio.ByteBuffer;

/** Element conversions from safetensors dtypes to float32. */
final class DTypeConversion {

    private DTypeConversion() {
    }

    /**
     * Converts little-endian elements of {@code dtype} to float32.
     *
     * @param bytes read from its position, not modified (absolute reads)
     * @param out   receives {@code out.length} values
     */
    static void toFloat(SafetensorsDType dtype, ByteBuffer bytes, float[] out) {
        int base = bytes.position();
        switch (dtype) {
            case F32 -> bytes.duplicate().order(bytes.order()).asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = halfToFloat(bytes.getShort(base + 2 * i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.intBitsToFloat((bytes.getShort(base + 2 * i) & 0xFFFF) << 16);
                }
            }
            case F64 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = (float) bytes.getDouble(base + 8 * i);
                }
            }
            case I32 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = bytes.getInt(base + 4 * i);
                }
            }
            case I64 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = bytes.getLong(base + 8 * i);
                }
            }
            default -> throw new IllegalArgumentException("No float conversion for " + dtype);
        }
    }

    /** IEEE 754 binary16 to binary32, exact for every value including subnormals, infinities and NaN. */
    static float halfToFloat(short half) {
        int bits = half & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            if (mantissa == 0) {
                return Float.intBitsToFloat(sign);
            }
            // subnormal: value = mantissa * 2^-24
            float magnitude = mantissa * 0x1.0p-24f;
            return sign == 0 ? magnitude : -magnitude;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }
}
