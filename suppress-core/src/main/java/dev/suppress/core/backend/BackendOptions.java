package dev.suppress.core.backend;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How to open a backend.
 *
 * @param modelFolder    the model folder (diffusers layout for DJL, diffusers/optimum ONNX layout for ONNX Runtime)
 * @param device         where to compute
 * @param allowCpuFallback when the GPU cannot be used, compute on the CPU instead of failing (off by default)
 * @param precision      the networks' floating-point type; {@link Precision#FP32} unless asked otherwise
 */
public record BackendOptions(Path modelFolder, Device device, boolean allowCpuFallback, Precision precision) {

    public BackendOptions {
        Objects.requireNonNull(modelFolder, "modelFolder");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(precision, "precision");
    }

    /** Options computing in float32. */
    public BackendOptions(Path modelFolder, Device device, boolean allowCpuFallback) {
        this(modelFolder, device, allowCpuFallback, Precision.FP32);
    }

    /** These options with another precision. */
    public BackendOptions withPrecision(Precision precision) {
        return new BackendOptions(modelFolder, device, allowCpuFallback, precision);
    }

    /** The model folder on the CPU. */
    public static BackendOptions cpu(Path modelFolder) {
        return new BackendOptions(modelFolder, Device.CPU, false);
    }
}
