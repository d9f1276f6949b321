package dev.suppress.djl.weights;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Writes safetensors files with any dtype and a chosen header padding, for loader tests. */
final class RawSafetensors {

    private record Entry(String name, String dtype, long[] shape, byte[] bytes) {
    }

    private final List<Entry> entries = new ArrayList<>();

    RawSafetensors f32(String name, long[] shape, float... values) {
        ByteBuffer bytes = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            bytes.putFloat(value);
        }
        return add(name, "F32", shape, bytes.array());
    }

    RawSafetensors f64(String name, long[] shape, double... values) {
        ByteBuffer bytes = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double value : values) {
            bytes.putDouble(value);
        }
        return add(name, "F64", shape, bytes.array());
    }

    /** 16-bit dtypes (F16, BF16) from their bit patterns. */
    RawSafetensors bits16(String name, String dtype, long[] shape, int... bits) {
        ByteBuffer bytes = ByteBuffer.allocate(2 * bits.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int value : bits) {
            bytes.putShort((short) value);
        }
        return add(name, dtype, shape, bytes.array());
    }

    RawSafetensors i64(String name, long[] shape, long... values) {
        ByteBuffer bytes = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long value : values) {
            bytes.putLong(value);
        }
        return add(name, "I64", shape, bytes.array());
    }

    private RawSafetensors add(String name, String dtype, long[] shape, byte[] bytes) {
        entries.add(new Entry(name, dtype, shape, bytes));
        return this;
    }

    /**
     * Writes the file.
     *
     * @param dataStartModulo4 the remainder modulo 4 of the data section's start (0 for the aligned layout that
     *                         writers produce; anything else places every F32 tensor at an unaligned address)
     */
    Path write(Path file, int dataStartModulo4) {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Entry entry : entries) {
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(entry.name).append("\":{\"dtype\":\"").append(entry.dtype)
                    .append("\",\"shape\":").append(Arrays.toString(entry.shape).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + entry.bytes.length)
                    .append("]}");
            offset += entry.bytes.length;
        }
        header.append('}');
        while ((8 + header.length()) % 4 != dataStartModulo4) {
            header.append(' ');
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            out.write(json);
            for (Entry entry : entries) {
                out.write(entry.bytes);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }
}
