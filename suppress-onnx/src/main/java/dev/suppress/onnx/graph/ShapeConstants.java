package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;

/**
 * Evaluates the small integer vectors that a traced PyTorch export builds shapes from, as far as they are
 * constant: {@code Concat} of {@code Constant}s, {@code Unsqueeze}d scalars, {@code Cast}s and {@code Identity}s.
 * Entries computed at run time ({@code Shape -> Gather}) come back as {@link #UNKNOWN}.
 *
 * <p>This is how the number of attention heads is read from the graph: diffusers' attention processors reshape the
 * query to {@code [batch, sequence, heads, head_dim]} ({@code Attention.head_to_batch_dim} in
 * {@code AttnProcessor}, {@code query.view(batch_size, -1, attn.heads, head_dim)} in {@code AttnProcessor2_0}),
 * and {@code heads} is a Python int, so the exporter writes it as a constant into that reshape's target shape.
 */
final class ShapeConstants {

    /** An entry whose value is only known at run time. */
    static final long UNKNOWN = Long.MIN_VALUE;

    private final GraphProto graph;
    private final Map<String, Integer> producers;
    private final Map<String, TensorProto> initializers = new HashMap<>();

    ShapeConstants(GraphProto graph, Map<String, Integer> producers) {
        this.graph = graph;
        this.producers = producers;
        for (TensorProto initializer : graph.getInitializerList()) {
            initializers.put(initializer.getName(), initializer);
        }
    }

    /**
     * The entries of the 1-D (or scalar) integer tensor {@code name}, with {@link #UNKNOWN} where an entry is not a
     * constant, or {@code null} when not even the length is known.
     */
    long[] evaluate(String name) {
        return evaluate(name, 0);
    }

    private long[] evaluate(String name, int depth) {
        if (depth > 16) {
            return null;
        }
        TensorProto initializer = initializers.get(name);
        if (initializer != null) {
            return integers(initializer);
        }
        Integer producer = producers.get(name);
        if (producer == null) {
            return null;
        }
        NodeProto node = graph.getNode(producer);
        switch (node.getOpType()) {
            case "Constant":
                for (AttributeProto attribute : node.getAttributeList()) {
                    if (attribute.getName().equals("value") && attribute.hasT()) {
                        return integers(attribute.getT());
                    }
                    if (attribute.getName().equals("value_int")) {
                        return new long[] {attribute.getI()};
                    }
                    if (attribute.getName().equals("value_ints")) {
                        return attribute.getIntsList().stream().mapToLong(Long::longValue).toArray();
                    }
                }
                return null;
            case "Cast":
            case "Identity":
                return evaluate(node.getInput(0), depth + 1);
            case "Unsqueeze": {
                // Only ever applied to a scalar when a shape is assembled; the result has one entry.
                long[] value = evaluate(node.getInput(0), depth + 1);
                return value != null && value.length == 1 ? value : new long[] {UNKNOWN};
            }
            case "Concat": {
                long[][] parts = new long[node.getInputCount()][];
                int length = 0;
                for (int i = 0; i < parts.length; i++) {
                    parts[i] = evaluate(node.getInput(i), depth + 1);
                    if (parts[i] == null) {
                        return null;
                    }
                    length += parts[i].length;
                }
                long[] out = new long[length];
                int offset = 0;
                for (long[] part : parts) {
                    System.arraycopy(part, 0, out, offset, part.length);
                    offset += part.length;
                }
                return out;
            }
            default:
                return null;
        }
    }

    /** The values of a small embedded INT64 or INT32 tensor, or {@code null} for anything else. */
    private static long[] integers(TensorProto tensor) {
        if (tensor.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            return null;
        }
        long count = 1;
        for (long dim : tensor.getDimsList()) {
            count *= dim;
        }
        if (count > 16) {
            return null;
        }
        int type = tensor.getDataType();
        if (type == TensorProto.DataType.INT64_VALUE) {
            if (!tensor.getRawData().isEmpty()) {
                ByteBuffer raw = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                long[] out = new long[raw.remaining() / Long.BYTES];
                raw.asLongBuffer().get(out);
                return out;
            }
            return tensor.getInt64DataList().stream().mapToLong(Long::longValue).toArray();
        }
        if (type == TensorProto.DataType.INT32_VALUE) {
            if (!tensor.getRawData().isEmpty()) {
                ByteBuffer raw = tensor.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                long[] out = new long[raw.remaining() / Integer.BYTES];
                for (int i = 0; i < out.length; i++) {
                    out[i] = raw.getInt();
                }
                return out;
            }
            return tensor.getInt32DataList().stream().mapToLong(Integer::longValue).toArray();
        }
        return null;
    }
}
