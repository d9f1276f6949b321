package dev.suppress.onnx.graph;

import ai.onnx.proto.OnnxMl.ModelProto;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.suppress.core.io.ModelFormatException;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Reads an ONNX model file into its protobuf form and writes an edited model back out for ONNX Runtime.
 *
 * <p>Weights stored as external data (the {@code unet/weights.pb} of a diffusers export, the {@code *.onnx_data}
 * of optimum) stay where they are: the proto only holds their relative {@code location}, and a session created
 * from the serialized bytes finds them through ONNX Runtime's
 * {@code session.model_external_initializers_file_folder_path} option pointing at the original model's folder. So
 * an edited SD 1.5 UNet (a few MB of graph next to 3.4 GB of weights) is never copied or rewritten on disk.
 * Protobuf caps one message at 2 GiB; a model file beyond that cannot be an ONNX file at all (exporters switch to
 * external data first).
 */
public final class OnnxModelFile {

    /** Protobuf's limit on one serialized message. */
    private static final long PROTOBUF_LIMIT_BYTES = Integer.MAX_VALUE;

    /** Nested subgraphs (If/Loop bodies) each add a few levels; the default limit of 100 is too tight for some. */
    private static final int RECURSION_LIMIT = 1000;

    private OnnxModelFile() {
    }

    /**
     * Parses an ONNX model file.
     *
     * <p>The file is memory-mapped and parsed with aliasing, so the embedded tensors of a large model are views of
     * the mapping, not copies on the Java heap.
     *
     * @param file a {@code model.onnx}
     * @throws ModelFormatException when the file is missing, larger than 2 GiB, or not an ONNX model proto
     */
    public static ModelProto read(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(file, "ONNX model file not found");
        }
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > PROTOBUF_LIMIT_BYTES) {
                throw new ModelFormatException(file, "ONNX model of " + size + " bytes is beyond protobuf's 2 GiB "
                        + "limit; re-export it with external data");
            }
            MappedByteBuffer mapped = channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
            CodedInputStream input = CodedInputStream.newInstance(mapped);
            input.enableAliasing(true);
            input.setSizeLimit(Integer.MAX_VALUE);
            input.setRecursionLimit(RECURSION_LIMIT);
            ModelProto model = ModelProto.parseFrom(input);
            if (!model.hasGraph() || model.getGraph().getNodeCount() == 0) {
                throw new ModelFormatException(file, "Not an ONNX model: the proto has no graph nodes (ir_version "
                        + model.getIrVersion() + ")");
            }
            return model;
        } catch (InvalidProtocolBufferException e) {
            throw new ModelFormatException(file, "Not an ONNX model: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read ONNX model " + file, e);
        }
    }

    /**
     * Serializes a model into a direct buffer, the form {@code OrtEnvironment.createSession(ByteBuffer, ...)}
     * reads without another copy.
     *
     * @param model the model; not modified
     * @return a direct buffer positioned at 0 holding the model's bytes
     */
    public static ByteBuffer toDirectBuffer(ModelProto model) {
        int size = model.getSerializedSize();
        ByteBuffer buffer = ByteBuffer.allocateDirect(size);
        try {
            CodedOutputStream output = CodedOutputStream.newInstance(buffer);
            model.writeTo(output);
            output.flush();
        } catch (IOException e) {
            // A CodedOutputStream over a buffer of the exact size cannot fail to write.
            throw new UncheckedIOException("Cannot serialize ONNX model", e);
        }
        buffer.flip();
        return buffer;
    }
}
