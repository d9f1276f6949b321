package dev.suppress.examples.tiny;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes a safetensors file of seeded random tensors one tensor at a time: the header is computed from the shapes
 * alone, then each tensor's values are generated ({@link RandomWeights#values}), encoded and written before the next
 * one is generated, so the heap holds at most one tensor (SD 1.5's largest, CLIP's token embedding, is 152 MB as
 * float32) however large the model is.
 *
 * <p>The values are those of {@link RandomWeights#generate} for the same seed, in the same key order, so an F32 file
 * written here has the bytes the in-memory writer would produce; F16 and BF16 round each float32 to nearest even.
 */
final class StreamingSafetensorsWriter {

    /** The element types written. */
    enum Dtype {
        F32(4), F16(2), BF16(2);

        final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** The write buffer: large enough that the channel is not called per element. */
    private static final int CHUNK_BYTES = 1 << 22;

    private StreamingSafetensorsWriter() {
    }

    /**
     * Writes every parameter of {@code shapes} with random values from {@code seed}, in key order.
     *
     * @return the bytes written
     * @throws UncheckedIOException when the file cannot be written
     */
    static long write(Path file, Map<String, long[]> shapes, Dtype dtype, long seed) {
        Map<String, long[]> sorted = new TreeMap<>(shapes);
        StringBuilder header = new StringBuilder("{\"__metadata__\":{\"format\":\"pt\"}");
        long offset = 0;
        for (Map.Entry<String, long[]> entry : sorted.entrySet()) {
            long length = count(entry.getValue()) * dtype.bytes;
            header.append(",\"").append(entry.getKey()).append("\":{\"dtype\":\"").append(dtype.name())
                    .append("\",\"shape\":[");
            long[] shape = entry.getValue();
            for (int axis = 0; axis < shape.length; axis++) {
                header.append(axis == 0 ? "" : ",").append(shape[axis]);
            }
            header.append("],\"data_offsets\":[").append(offset).append(',').append(offset + length).append("]}");
            offset += length;
        }
        header.append('}');
        // pad with spaces so the data section starts 8-byte aligned (every tensor then is naturally aligned)
        while (header.length() % 8 != 0) {
            header.append(' ');
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer prefix = ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN);
            prefix.putLong(json.length).put(json).flip();
            writeFully(channel, prefix);
            ByteBuffer chunk = ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, long[]> entry : sorted.entrySet()) {
                float[] values = RandomWeights.values(entry.getKey(), dims(entry.getKey(), entry.getValue()), seed);
                for (float value : values) {
                    switch (dtype) {
                        case F32 -> chunk.putFloat(value);
                        case F16 -> chunk.putShort(toHalf(value));
                        case BF16 -> chunk.putShort(toBFloat16(value));
                        default -> throw new AssertionError(dtype);
                    }
                    if (!chunk.hasRemaining()) {
                        chunk.flip();
                        writeFully(channel, chunk);
                        chunk.clear();
                    }
                }
            }
            chunk.flip();
            writeFully(channel, chunk);
            return 8L + json.length + offset;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write " + file, e);
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private static long count(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            count = Math.multiplyExact(count, dim);
        }
        return count;
    }

    private static int[] dims(String key, long[] shape) {
        int[] dims = new int[shape.length];
        for (int axis = 0; axis < shape.length; axis++) {
            dims[axis] = Math.toIntExact(shape[axis]);
        }
        if (count(shape) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "Tensor '%s' has %d elements, more than "
                    + "one Java array holds", key, count(shape)));
        }
        return dims;
    }

    /** The IEEE 754 binary16 nearest to {@code value} (ties to even); overflow gives infinity. */
    static short toHalf(float value) {
        int bits = Float.floatToRawIntBits(value);
        int sign = (bits >>> 16) & 0x8000;
        int exponent = (bits >>> 23) & 0xff;
        int mantissa = bits & 0x7fffff;
        if (exponent == 0xff) {
            // infinity or NaN (NaN keeps a set quiet bit)
            return (short) (sign | 0x7c00 | (mantissa != 0 ? 0x200 : 0));
        }
        int halfExponent = exponent - 127 + 15;
        if (halfExponent >= 0x1f) {
            return (short) (sign | 0x7c00);
        }
        if (halfExponent <= 0) {
            // subnormal half (or zero): shift the mantissa with its implicit bit, rounding to nearest even
            if (halfExponent < -10) {
                return (short) sign;
            }
            int full = mantissa | 0x800000;
            int shift = 14 - halfExponent;
            int half = full >>> shift;
            int remainder = full & ((1 << shift) - 1);
            int halfway = 1 << (shift - 1);
            if (remainder > halfway || (remainder == halfway && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (halfExponent << 10) | (mantissa >>> 13);
        int remainder = mantissa & 0x1fff;
        if (remainder > 0x1000 || (remainder == 0x1000 && (half & 1) != 0)) {
            // may carry into the exponent, which is the correct rounding (up to infinity at the top)
            half++;
        }
        return (short) (sign | half);
    }

    /** The bfloat16 nearest to {@code value} (ties to even): the upper half of the rounded float32. */
    static short toBFloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        if (Float.isNaN(value)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
