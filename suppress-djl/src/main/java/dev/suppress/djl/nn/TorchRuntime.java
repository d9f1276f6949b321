package dev.suppress.djl.nn;

import ai.djl.engine.Engine;
import ai.djl.engine.EngineException;
import ai.djl.ndarray.NDManager;
import dev.suppress.core.backend.Device;

/**
 * The PyTorch engine of DJL as this backend uses it: offline, CPU by default, a GPU only on request.
 *
 * <p>DJL downloads libtorch when it finds no native jar on the class path. This library never downloads at run
 * time, so the first call here sets the system property {@code ai.djl.offline=true} unless the application has set
 * {@code ai.djl.offline} itself (set it to {@code false} to allow DJL's download). The natives then come from the
 * {@code pytorch-native-*} and {@code pytorch-jni} jars and are extracted once into {@code ~/.djl.ai}.
 */
public final class TorchRuntime {

    /** The DJL engine name. */
    public static final String ENGINE = "PyTorch";

    private static final String OFFLINE_PROPERTY = "ai.djl.offline";

    private TorchRuntime() {
    }

    /**
     * The PyTorch engine, loading libtorch on first use.
     *
     * @throws IllegalStateException when the engine or its native library cannot be loaded; the message says which
     *                               jars provide it
     */
    public static Engine engine() {
        if (System.getProperty(OFFLINE_PROPERTY) == null) {
            System.setProperty(OFFLINE_PROPERTY, "true");
        }
        NativeMemory.configure();
        try {
            return Engine.getEngine(ENGINE);
        } catch (EngineException | IllegalArgumentException | UnsatisfiedLinkError e) {
            throw new IllegalStateException("Cannot load DJL's PyTorch engine. It needs ai.djl.pytorch:pytorch-engine, "
                    + "ai.djl.pytorch:pytorch-jni and a libtorch native jar (ai.djl.pytorch:pytorch-native-cpu, "
                    + "classifier linux-x86_64, or a CUDA flavour) of the same libtorch version on the class path, or "
                    + "PYTORCH_LIBRARY_PATH pointing at that libtorch; " + OFFLINE_PROPERTY + "="
                    + System.getProperty(OFFLINE_PROPERTY) + " forbids downloading it: " + e.getMessage(), e);
        }
    }

    /**
     * Maps a device option to a DJL device.
     *
     * <p>{@link Device#CPU} is {@code Device.cpu()}. {@code Device.gpu(n)} is DJL's {@code Device.gpu(n)} when
     * PyTorch sees more than {@code n} CUDA devices, which needs a CUDA libtorch: replace
     * {@code pytorch-native-cpu} with {@code pytorch-native-cu128} (libtorch 2.7.1, classifier {@code linux-x86_64},
     * the flavour {@code pytorch-jni 2.7.1-0.36.0} has a JNI library for) or set {@code PYTORCH_LIBRARY_PATH} to a
     * CUDA build of libtorch 2.7.1.
     *
     * @param device           the requested device
     * @param allowCpuFallback when the GPU is not available, use the CPU instead of failing
     * @throws IllegalStateException when a GPU is requested, none is available and fallback is off
     */
    public static ai.djl.Device toDjlDevice(Device device, boolean allowCpuFallback) {
        if (device.kind() == Device.Kind.CPU) {
            return ai.djl.Device.cpu();
        }
        int available = engine().getGpuCount();
        if (device.index() < available) {
            return ai.djl.Device.gpu(device.index());
        }
        if (allowCpuFallback) {
            return ai.djl.Device.cpu();
        }
        throw new IllegalStateException("Device " + device + " was requested but PyTorch sees " + available
                + " CUDA device(s). A GPU needs a CUDA build of libtorch " + engine().getVersion()
                + ": put ai.djl.pytorch:pytorch-native-cu128 (classifier linux-x86_64) on the class path instead of "
                + "pytorch-native-cpu, or set PYTORCH_LIBRARY_PATH to a CUDA libtorch; or allow the CPU fallback "
                + "(BackendOptions.allowCpuFallback)");
    }

    /** A new root manager on {@code device}, for the weights of one model part; the caller closes it. */
    public static NDManager newManager(ai.djl.Device device) {
        return NDManager.newBaseManager(device, engine().getEngineName());
    }
}
