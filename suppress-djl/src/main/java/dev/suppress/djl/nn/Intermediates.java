package dev.suppress.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.function.UnaryOperator;

/**
 * Frees a module's intermediate arrays when the module returns, instead of when the whole call's NDManager closes.
 *
 * <p>DJL keeps every array until its manager closes, while PyTorch frees a tensor as soon as nothing refers to it.
 * Without this, one UNet pass of SD 1.x at 512 px would hold every attention score and resnet activation of the
 * pass at once (several GB). The module runs with its input temporarily attached to a sub-manager, so the arrays
 * it computes from that input land there; its output is moved to the input's manager and the sub-manager is closed.
 *
 * <p>Safe under autograd: closing an array releases DJL's handle, and libtorch keeps whatever the graph saved.
 * Arrays whose memory is a Java buffer (created from Java data) must not be created inside, see
 * {@link Tensors#scalar}.
 */
public final class Intermediates {

    private Intermediates() {
    }

    /**
     * @param input the module's input; it stays in its manager
     * @param body  the module, computing with {@code input} as the receiver of its operations
     * @return the module's output, attached to {@code input}'s manager
     */
    public static NDArray freedAfter(NDArray input, UnaryOperator<NDArray> body) {
        NDManager outer = input.getManager();
        try (NDManager local = outer.newSubManager()) {
            input.tempAttach(local);
            NDArray output = body.apply(input);
            output.attach(outer);
            return output;
        }
    }

    /**
     * {@code next} applied to an intermediate array that nothing else uses, which is closed once the result exists
     * (unless {@code next} returned it). Only for arrays computed inside the current module.
     */
    public static NDArray then(NDArray intermediate, UnaryOperator<NDArray> next) {
        NDArray result = next.apply(intermediate);
        if (result != intermediate) {
            intermediate.close();
        }
        return result;
    }
}
