package dev.suppress.core.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.tensor.Tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A safetensors file opened for lazy, memory-mapped access to its tensors.
 *
 * <p>The header is read and checked in full when the file is opened, before anything is allocated from it: its
 * length against the file, the JSON, each dtype, shape and offset pair, that shape times dtype size equals the byte
 * span, and that the spans tile the data section exactly (no gap, no overlap). A file that fails any check is a
 * {@link ModelFormatException} naming the file and the tensor. Tensor bytes are mapped from the file only when a
 * tensor is asked for, so files of any size (an F32 SD 1.x UNet is 3.4 GB) open instantly; a single tensor is
 * limited to 2 GiB, the most one Java buffer can address.
 *
 * <p>Not thread-safe for {@link #close()} racing with reads; concurrent reads are fine.
 */
public final class SafetensorsFile implements AutoCloseable {

    /** The reference implementation's cap on header size (safetensors {@code MAX_HEADER_SIZE}). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    private static final String METADATA_KEY = "__metadata__";
    private static final ObjectMapper HEADER_MAPPER = headerMapper();

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;
    private volatile boolean closed;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors,
                            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    private static ObjectMapper headerMapper() {
        JsonFactory factory = JsonFactory.builder()
                .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(8).build())
                .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                .build();
        ObjectMapper mapper = new ObjectMapper(factory);
        mapper.configure(JsonParser.Feature.ALLOW_COMMENTS, false);
        return mapper;
    }

    /**
     * Opens and validates a safetensors file.
     *
     * @throws ModelFormatException when the file is not a valid safetensors file
     * @throws UncheckedIOException when it cannot be read
     */
    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot open safetensors file " + path, e);
        }
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw new ModelFormatException(path, "Not a safetensors file: " + fileSize
                        + " bytes, fewer than the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw new ModelFormatException(path, "Safetensors header length " + Long.toUnsignedString(headerLength)
                        + " is larger than the " + MAX_HEADER_BYTES + "-byte limit");
            }
            if (headerLength > fileSize - 8) {
                throw new ModelFormatException(path, "Safetensors header length " + headerLength
                        + " runs past the end of the file (" + fileSize + " bytes)");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            readFully(channel, headerBytes, 8);
            String headerText = decodeUtf8(path, headerBytes.flip());
            long dataStart = 8 + headerLength;
            Header header = parseHeader(path, headerText, fileSize - dataStart);
            return new SafetensorsFile(path, channel, dataStart, header.tensors, header.metadata);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new UncheckedIOException("Cannot read safetensors file " + path, e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {
    }

    private static String decodeUtf8(Path path, ByteBuffer bytes) {
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(bytes).toString();
        } catch (CharacterCodingException e) {
            throw new ModelFormatException(path, "Safetensors header is not valid UTF-8", e);
        }
    }

    private static Header parseHeader(Path path, String text, long dataLength) {
        JsonNode root;
        try {
            root = HEADER_MAPPER.readTree(text);
        } catch (IOException | RuntimeException e) {
            throw new ModelFormatException(path, "Safetensors header is not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(path, "Safetensors header must be a JSON object, found "
                    + (root == null ? "nothing" : root.getNodeType()));
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> field : root.properties()) {
            if (field.getKey().equals(METADATA_KEY)) {
                readMetadata(path, field.getValue(), metadata);
            } else {
                tensors.put(field.getKey(), readEntry(path, field.getKey(), field.getValue()));
            }
        }
        checkCoverage(path, tensors, dataLength);
        return new Header(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    private static void readMetadata(Path path, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw new ModelFormatException(path, "Safetensors '__metadata__' must be an object of strings, found "
                    + node.getNodeType());
        }
        for (Map.Entry<String, JsonNode> entry : node.properties()) {
            if (!entry.getValue().isTextual()) {
                throw new ModelFormatException(path, "Safetensors '__metadata__' value for '" + entry.getKey()
                        + "' must be a string, found " + entry.getValue().getNodeType());
            }
            metadata.put(entry.getKey(), entry.getValue().textValue());
        }
    }

    private static TensorInfo readEntry(Path path, String name, JsonNode node) {
        if (!node.isObject()) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' must be an object, found "
                    + node.getNodeType());
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' has no string 'dtype'");
        }
        SafetensorsDType dtype = SafetensorsDType.parseOrNull(dtypeNode.textValue());
        if (dtype == null) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' has unknown dtype '"
                    + dtypeNode.textValue() + "'; expected one of " + Arrays.toString(SafetensorsDType.values()));
        }
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' has no 'shape' array");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode dimension = shapeNode.get(i);
            if (!dimension.isIntegralNumber() || !dimension.canConvertToLong() || dimension.longValue() < 0) {
                throw new ModelFormatException(path, "Safetensors entry '" + name + "' has invalid dimension "
                        + dimension + " in shape " + shapeNode);
            }
            shape[i] = dimension.longValue();
            elements = multiplyOrFail(path, name, elements, shape[i], shapeNode);
        }
        JsonNode offsetsNode = node.get("data_offsets");
        if (offsetsNode == null || !offsetsNode.isArray() || offsetsNode.size() != 2
                || !isNonNegativeLong(offsetsNode.get(0)) || !isNonNegativeLong(offsetsNode.get(1))) {
            throw new ModelFormatException(path, "Safetensors entry '" + name
                    + "' must have 'data_offsets' [begin, end] of non-negative integers, found " + offsetsNode);
        }
        long begin = offsetsNode.get(0).longValue();
        long end = offsetsNode.get(1).longValue();
        if (end < begin) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' has data_offsets [" + begin + ", "
                    + end + "] with end before begin");
        }
        long expectedBytes = multiplyOrFail(path, name, elements, dtype.byteSize(), shapeNode);
        if (expectedBytes != end - begin) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "': shape " + shapeNode + " of "
                    + dtype + " needs " + expectedBytes + " bytes but data_offsets [" + begin + ", " + end
                    + "] span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end - begin);
    }

    private static boolean isNonNegativeLong(JsonNode node) {
        return node.isIntegralNumber() && node.canConvertToLong() && node.longValue() >= 0;
    }

    private static long multiplyOrFail(Path path, String name, long a, long b, JsonNode shapeNode) {
        try {
            return Math.multiplyExact(a, b);
        } catch (ArithmeticException overflow) {
            throw new ModelFormatException(path, "Safetensors entry '" + name + "' has shape " + shapeNode
                    + " whose size overflows");
        }
    }

    /** The spans must tile [0, dataLength) exactly, as the safetensors reference validates. */
    private static void checkCoverage(Path path, Map<String, TensorInfo> tensors, long dataLength) {
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::byteOffset).thenComparingLong(TensorInfo::byteLength));
        long expectedBegin = 0;
        TensorInfo previous = null;
        for (TensorInfo info : byOffset) {
            if (info.byteOffset() != expectedBegin) {
                String where = previous == null ? "the start of the data section"
                        : "the end of '" + previous.name() + "'";
                throw new ModelFormatException(path, "Safetensors entry '" + info.name() + "' starts at byte "
                        + info.byteOffset() + " but " + where + " is byte " + expectedBegin + " ("
                        + (info.byteOffset() < expectedBegin ? "overlap" : "gap") + ")");
            }
            expectedBegin = info.byteOffset() + info.byteLength();
            previous = info;
        }
        if (expectedBegin != dataLength) {
            throw new ModelFormatException(path, "Safetensors tensors cover " + expectedBegin
                    + " bytes but the data section holds " + dataLength + (expectedBegin > dataLength
                    ? " (offsets run past the end of the file)" : " (trailing bytes not covered by any tensor)"));
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int read = channel.read(buffer, at);
            if (read < 0) {
                throw new IOException("Unexpected end of file at byte " + at);
            }
            at += read;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // the open failure is the error worth reporting
        }
    }

    /** The file this was opened from. */
    public Path path() {
        return path;
    }

    /** The tensor keys, in header order. */
    public Set<String> names() {
        return tensors.keySet();
    }

    /** True when the file holds a tensor named {@code name}. */
    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** All entries, in header order. */
    public Map<String, TensorInfo> infos() {
        return tensors;
    }

    /** The free-form {@code __metadata__} strings (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * The header entry of one tensor.
     *
     * @throws ModelFormatException when the file has no such tensor; the message lists what it has
     */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new ModelFormatException(path, "Missing tensor '" + name + "'; found " + tensors.size()
                    + " tensors" + nearbyNames(name));
        }
        return info;
    }

    /** Names sharing the longest dotted prefix with {@code name}, to show what the file has instead. */
    private String nearbyNames(String name) {
        String parent = name.lastIndexOf('.') > 0 ? name.substring(0, name.lastIndexOf('.') + 1) : "";
        for (String prefix = parent; !prefix.isEmpty(); prefix = shorterPrefix(prefix)) {
            List<String> similar = new ArrayList<>();
            for (String candidate : tensors.keySet()) {
                if (candidate.startsWith(prefix) && similar.size() < 8) {
                    similar.add(candidate);
                }
            }
            if (!similar.isEmpty()) {
                String none = prefix.equals(parent) ? "" : ", none under '" + parent + "'";
                return none + "; under '" + prefix + "': " + similar;
            }
        }
        return parent.isEmpty() ? "" : ", none under '" + parent + "'";
    }

    private static String shorterPrefix(String prefix) {
        int dot = prefix.lastIndexOf('.', prefix.length() - 2);
        return dot < 0 ? "" : prefix.substring(0, dot + 1);
    }

    /**
     * The raw bytes of one tensor, as a read-only little-endian buffer mapped from the file (no copy).
     *
     * @throws ModelFormatException when the tensor is missing or larger than 2 GiB
     */
    public ByteBuffer rawBytes(String name) {
        TensorInfo info = info(name);
        ensureOpen();
        if (info.byteLength() > Integer.MAX_VALUE) {
            throw new ModelFormatException(path, "Tensor '" + name + "' is " + info.byteLength()
                    + " bytes, more than one Java buffer can address (2 GiB)");
        }
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.byteOffset(), info.byteLength())
                    .order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot map tensor '" + name + "' of " + path, e);
        }
    }

    /**
     * One tensor converted to float32 (from F32, F16, BF16, F64, I32 or I64).
     *
     * @throws ModelFormatException when the tensor is missing or its dtype does not convert to float
     */
    public Tensor tensor(String name) {
        TensorInfo info = info(name);
        return Tensor.wrapOwned(floats(name), info.intShape());
    }

    /** One tensor's values converted to float32, in row-major order (a new array). */
    public float[] floats(String name) {
        TensorInfo info = info(name);
        if (!info.dtype().convertibleToFloat()) {
            throw new ModelFormatException(path, "Tensor '" + name + "' has dtype " + info.dtype()
                    + "; only F32, F16, BF16, F64, I32 and I64 convert to float");
        }
        ByteBuffer bytes = rawBytes(name);
        float[] out = new float[Math.toIntExact(info.elementCount())];
        DTypeConversion.toFloat(info.dtype(), bytes, out);
        return out;
    }

    /**
     * One integer tensor's values (I64 or I32), e.g. token ids or timesteps.
     *
     * @throws ModelFormatException when the tensor is missing or not an integer tensor
     */
    public long[] longs(String name) {
        TensorInfo info = info(name);
        ByteBuffer bytes = rawBytes(name);
        long[] out = new long[Math.toIntExact(info.elementCount())];
        switch (info.dtype()) {
            case I64 -> bytes.asLongBuffer().get(out);
            case I32 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = bytes.getInt(4 * i);
                }
            }
            default -> throw new ModelFormatException(path, "Tensor '" + name + "' has dtype " + info.dtype()
                    + "; expected I64 or I32");
        }
        return out;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("Safetensors file " + path + " is closed");
        }
    }

    /**
     * Closes the file. Buffers already returned by {@link #rawBytes} stay readable until they are garbage
     * collected (Java 17 offers no deterministic unmapping); callers copy what they keep.
     */
    @Override
    public void close() {
        closed = true;
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot close " + path, e);
        }
    }

    @Override
    public String toString() {
        return "SafetensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }
}
