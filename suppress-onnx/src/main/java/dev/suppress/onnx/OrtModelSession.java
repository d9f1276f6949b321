package dev.suppress.onnx;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.backend.Device;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.onnx.graph.OnnxModelFile;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One ONNX Runtime session together with the {@link OrtSession.SessionOptions} it was created with; closing it
 * closes both (STYLE.md §4). The process-wide {@link OrtEnvironment} is shared and never closed.
 *
 * <p>Placement: on a GPU {@link Device} the CUDA execution provider is added. When it cannot be loaded (the CPU
 * build of ONNX Runtime, no CUDA or cuDNN libraries, no such GPU) or the session cannot be created with it, the
 * session is created on the CPU if the caller allows the fallback, and an {@link OrtExecutionException} naming the
 * part and the device is thrown otherwise. ONNX Runtime reports all of these as exceptions, never as a crash.
 */
final class OrtModelSession implements AutoCloseable {

    /** ONNX Runtime's option for where a model loaded from memory finds its external data files. */
    static final String EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path";

    private static final System.Logger LOG = System.getLogger(OrtModelSession.class.getName());

    private final String component;
    private final Path source;
    private final Device device;
    private final OrtSession session;
    private final OrtSession.SessionOptions options;

    private OrtModelSession(String component, Path source, Device device, OrtSession session,
                            OrtSession.SessionOptions options) {
        this.component = component;
        this.source = source;
        this.device = device;
        this.session = session;
        this.options = options;
    }

    /** How a session's model reaches ONNX Runtime. */
    @FunctionalInterface
    private interface Loader {
        OrtSession load(OrtEnvironment environment, OrtSession.SessionOptions options) throws OrtException;
    }

    /**
     * A session for a model file, loaded by path so that ONNX Runtime resolves external data beside it.
     *
     * @param component the model part, for messages ({@code text_encoder}, {@code unet}, ...)
     */
    static OrtModelSession open(String component, Path file, Device device, boolean allowCpuFallback) {
        return create(component, file, device, allowCpuFallback, null,
                (environment, options) -> environment.createSession(file.toString(), options));
    }

    /**
     * A session for an edited model. The model is serialized to memory; its external data (relative locations
     * such as {@code weights.pb}) is read from {@code source}'s folder, where the unedited model keeps it, so no
     * weight file is copied.
     *
     * @param model  the edited model; not modified
     * @param source the file the model was read from
     */
    static OrtModelSession open(String component, ModelProto model, Path source, Device device,
                                boolean allowCpuFallback) {
        ByteBuffer bytes = OnnxModelFile.toDirectBuffer(model);
        Path folder = source.toAbsolutePath().getParent();
        return create(component, source, device, allowCpuFallback, folder,
                (environment, options) -> environment.createSession(bytes, options));
    }

    private static OrtModelSession create(String component, Path source, Device device, boolean allowCpuFallback,
                                          Path externalDataFolder, Loader loader) {
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        if (device.kind() == Device.Kind.GPU) {
            OrtSession.SessionOptions options = newOptions(component, source, externalDataFolder);
            try {
                options.addCUDA(device.index());
                return new OrtModelSession(component, source, device, loader.load(environment, options), options);
            } catch (OrtException e) {
                options.close();
                if (!allowCpuFallback) {
                    throw new OrtExecutionException(component + ": cannot run " + source + " on " + device
                            + " with the CUDA execution provider (" + e.getMessage() + "). Use the "
                            + "com.microsoft.onnxruntime:onnxruntime_gpu artifact with its CUDA and cuDNN libraries "
                            + "on the library path, or allow the CPU fallback", e);
                }
                LOG.log(System.Logger.Level.WARNING, "{0}: CUDA execution provider unavailable on {1} ({2}); "
                        + "running on the CPU", component, device, e.getMessage());
            }
        }
        OrtSession.SessionOptions options = newOptions(component, source, externalDataFolder);
        try {
            return new OrtModelSession(component, source, Device.CPU, loader.load(environment, options), options);
        } catch (OrtException e) {
            options.close();
            throw new ModelFormatException(source, component + ": ONNX Runtime cannot create a session: "
                    + e.getMessage(), e);
        }
    }

    private static OrtSession.SessionOptions newOptions(String component, Path source, Path externalDataFolder) {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        try {
            if (externalDataFolder != null) {
                options.addConfigEntry(EXTERNAL_DATA_FOLDER, externalDataFolder.toString());
            }
            return options;
        } catch (OrtException e) {
            options.close();
            throw new OrtExecutionException(component + ": cannot configure a session for " + source, e);
        }
    }

    /** The model part, for messages. */
    String component() {
        return component;
    }

    /** The file the model came from. */
    Path source() {
        return source;
    }

    /** Where the session actually runs (the CPU after a fallback). */
    Device device() {
        return device;
    }

    /** The inputs as the model declares them, in declaration order. */
    Map<String, TensorInfo> inputs() {
        return tensorInfos(true);
    }

    /** The outputs as the model declares them, in declaration order. */
    Map<String, TensorInfo> outputs() {
        return tensorInfos(false);
    }

    private Map<String, TensorInfo> tensorInfos(boolean inputs) {
        try {
            Map<String, NodeInfo> infos = inputs ? session.getInputInfo() : session.getOutputInfo();
            Map<String, TensorInfo> out = new LinkedHashMap<>();
            for (Map.Entry<String, NodeInfo> entry : infos.entrySet()) {
                if (!(entry.getValue().getInfo() instanceof TensorInfo tensor)) {
                    throw new ModelFormatException(source, component + ": " + (inputs ? "input" : "output") + " '"
                            + entry.getKey() + "' is not a tensor but " + entry.getValue().getInfo());
                }
                out.put(entry.getKey(), tensor);
            }
            return out;
        } catch (OrtException e) {
            throw new OrtExecutionException(component + ": cannot read the inputs and outputs of " + source, e);
        }
    }

    /**
     * Runs the session and copies the requested float outputs into tensors. The result is closed here; the inputs
     * stay the caller's to close.
     *
     * @param inputs  the feeds, by input name
     * @param outputs the outputs wanted
     * @param step    what this run is, for messages (e.g. {@code "timestep 981, batch 2"})
     */
    Map<String, Tensor> run(Map<String, OnnxTensor> inputs, Set<String> outputs, String step) {
        try (OrtSession.Result result = session.run(inputs, outputs)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (String name : outputs) {
                OnnxValue value = result.get(name).orElseThrow(() -> new OrtExecutionException(component
                        + ": ONNX Runtime returned no output '" + name + "' at " + step, null));
                out.put(name, toTensor(name, value));
            }
            return out;
        } catch (OrtException e) {
            throw new OrtExecutionException(component + ": run failed at " + step + " on " + device + " ("
                    + source + "): " + e.getMessage(), e);
        }
    }

    private Tensor toTensor(String name, OnnxValue value) {
        if (!(value instanceof OnnxTensor tensor) || tensor.getInfo().type != OnnxJavaType.FLOAT) {
            throw new ModelFormatException(source, component + ": output '" + name + "' is " + value.getInfo()
                    + ", expected a float32 tensor");
        }
        long[] longShape = tensor.getInfo().getShape();
        int[] shape = new int[longShape.length];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = Math.toIntExact(longShape[i]);
        }
        FloatBuffer buffer = tensor.getFloatBuffer();
        float[] data;
        if (buffer.hasArray() && buffer.arrayOffset() == 0 && buffer.array().length == buffer.remaining()) {
            data = buffer.array();
        } else {
            data = new float[buffer.remaining()];
            buffer.get(data);
        }
        return Tensor.wrapOwned(data, shape);
    }

    /** Closes the session, then its options, even when closing the session fails. */
    @Override
    public void close() {
        try {
            session.close();
        } catch (OrtException e) {
            throw new OrtExecutionException(component + ": cannot close the session of " + source, e);
        } finally {
            options.close();
        }
    }

    @Override
    public String toString() {
        return component + " session on " + device + " (" + source + ", inputs " + Arrays.toString(
                session.getInputNames().toArray()) + ")";
    }
}
