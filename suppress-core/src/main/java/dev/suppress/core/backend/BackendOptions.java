package dev.suppress.core.backend;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How to open a backend.
 *
 * @param modelFolder    the model folder (diffusers layout for DJL, diffusers/optimum ONNX layout for ONNX Runtime)
 * @param device         where to compute
 * @param allowCpuFallback when the GPU cannot be used, compute on the CPU instead of failing (off by default)
 */
public record BackendOptions(Path modelFolder, Device device, boolean allowCpuFallback) {

    public BackendOptions {
        Objects.requireNonNull(modelFolder, "modelFolder");
        Objects.requireNonNull(device, "device");
    }

    /** The model folder on the CPU. */
    public static BackendOptions cpu(Path modelFolder) {
        return new BackendOptions(modelFolder, Device.CPU, false);
    }
}
