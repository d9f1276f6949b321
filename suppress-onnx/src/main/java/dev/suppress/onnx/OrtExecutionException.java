package dev.suppress.onnx;

/**
 * ONNX Runtime could not create or run a session: the message names the model part ({@code unet},
 * {@code text_encoder}, ...), the step (creating the session, a run at a given timestep), the device, and keeps
 * ONNX Runtime's own exception as the cause. Also thrown when a GPU was asked for and the CUDA execution provider
 * cannot be used while {@code allowCpuFallback} is off.
 */
public final class OrtExecutionException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message what failed, where and on which device
     * @param cause   ONNX Runtime's exception
     */
    public OrtExecutionException(String message, Throwable cause) {
        super(message, cause);
    }
}
