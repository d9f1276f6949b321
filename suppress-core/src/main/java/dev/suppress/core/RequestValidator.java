package dev.suppress.core;

import dev.suppress.core.validation.MemoryBudget;

import dev.suppress.core.attention.AttentionKind;
import dev.suppress.core.attention.AttentionLayerInfo;
import dev.suppress.core.backend.Precision;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.text.ClipTokenizer;
import dev.suppress.core.text.TokenizedPrompt;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The checks of a request against the loaded model that its record cannot make alone, run before any text
 * encoding or UNet call: an empty prompt, an image size the VAE and the UNet's levels cannot divide, a seed latent
 * of the wrong shape or with non-finite values, ranges beyond which a run only wastes hours (ITO iterations,
 * guidance), and the memory the UNet's attention needs at the requested size. Prompts that CLIP truncates are
 * not errors but come back as warnings (a suppressed word that truncation removed is an error, from
 * {@link dev.suppress.core.internal.text.TokenIndices}).
 *
 * <p>The record's compact constructor already refuses NaN, infinite and out-of-range numbers (steps, guidance,
 * τ, α, ITO scale, loss weights), blank words and a latent that is not {@code [1, c, h, w]}; the pipeline refuses
 * absent words, token indices outside the prompt, a latent with the wrong channel count and an attention
 * resolution the UNet does not have. This class adds what needs the model.
 */
public final class RequestValidator {

    /** Pixels per latent pixel: the VAE of SD 1.x and 2.x halves the side three times. */
    public static final int VAE_FACTOR = 8;

    /** The largest image width or height accepted: 4096 px is 8 times SD 1.x's 512, past any UNet's trained range. */
    public static final int MAX_IMAGE_SIZE = 4096;

    /** ITO iterations per step beyond which a run is a typo (the reference uses 10). */
    public static final int MAX_ITO_ITERATIONS = 1000;

    /** |guidance scale| beyond which the guided noise only overflows (the reference uses 7.5). */
    public static final double MAX_GUIDANCE_SCALE = 1000;


    /** Batch of the reference schedule's UNet call: [uncond, uncond, cond, cond] of both branches. */
    private static final int LARGEST_BATCH = 4;

    private RequestValidator() {
    }

    /**
     * Checks a request against the model.
     *
     * @param request   the request
     * @param tokenizer the model's tokenizer
     * @param unet      the UNet's description
     * @param precision what the networks compute in (for the memory estimate)
     * @return warnings for the user: truncated prompts, with what truncation removed
     * @throws IllegalArgumentException naming the option and the value
     * @throws InsufficientMemoryException when the UNet's attention at this size cannot fit
     */
    public static List<String> check(SuppressionRequest request, ClipTokenizer tokenizer, UNetDescription unet,
                                     Precision precision) {
        Objects.requireNonNull(request, "request");
        if (request.prompt().isBlank()) {
            throw new IllegalArgumentException("The prompt is empty; give the prompt that names what to "
                    + (request.strengthens() ? "strengthen" : "suppress") + ", e.g. 'a man without glasses'");
        }
        if (request.ito().iterations() > MAX_ITO_ITERATIONS) {
            throw new IllegalArgumentException("itoIterations must be at most " + MAX_ITO_ITERATIONS
                    + " per step (the reference uses 10), got " + request.ito().iterations());
        }
        if (Math.abs(request.schedule().guidanceScale()) > MAX_GUIDANCE_SCALE) {
            throw new IllegalArgumentException("guidanceScale must be within +-" + (int) MAX_GUIDANCE_SCALE
                    + " (the reference uses 7.5), got " + request.schedule().guidanceScale());
        }
        int factor = deepestFactor(unet);
        int latentHeight;
        int latentWidth;
        if (request.initialLatent() != null) {
            Tensor latent = request.initialLatent();
            latentHeight = latent.dim(2);
            latentWidth = latent.dim(3);
            if (latentHeight % factor != 0 || latentWidth % factor != 0 || latentHeight == 0 || latentWidth == 0) {
                throw new IllegalArgumentException("initialLatent is " + latent + ": its sides must be positive "
                        + "multiples of " + factor + ", as the UNet halves them " + Integer.numberOfTrailingZeros(
                        factor) + " times (a " + unet.sampleSize() + "x" + unet.sampleSize() + " latent for this "
                        + "model's " + unet.sampleSize() * VAE_FACTOR + " px)");
            }
            for (int i = 0; i < latent.size(); i++) {
                if (!Float.isFinite(latent.get(i))) {
                    throw new IllegalArgumentException("initialLatent holds " + latent.get(i) + " at flat index " + i
                            + " of " + latent + "; a seed latent must be finite");
                }
            }
        } else {
            boolean square = request.width() == request.height();
            int width = request.width() > 0 ? request.width() : unet.sampleSize() * VAE_FACTOR;
            int height = request.height() > 0 ? request.height() : unet.sampleSize() * VAE_FACTOR;
            requireDivisible(ImageSizes.name(square, "width"), width, factor);
            requireDivisible(ImageSizes.name(square, "height"), height, factor);
            latentHeight = height / VAE_FACTOR;
            latentWidth = width / VAE_FACTOR;
        }
        requireAttentionMemory(unet, latentHeight, latentWidth, precision);
        List<String> warnings = new ArrayList<>();
        truncation(tokenizer, tokenizer.tokenize(request.prompt()), "prompt", warnings);
        if (request.negativePrompt() != null) {
            truncation(tokenizer, tokenizer.tokenize(request.negativePrompt()), "negative prompt", warnings);
        }
        return warnings;
    }

    /**
     * One image side against the largest size and the UNet's levels.
     *
     * @param name {@code imageSize} for a square request, else {@code width} or {@code height}
     */
    private static void requireDivisible(String name, int pixels, int factor) {
        int multiple = factor * VAE_FACTOR;
        if (pixels > MAX_IMAGE_SIZE) {
            throw new IllegalArgumentException(name + " must be at most " + MAX_IMAGE_SIZE + " px, got " + pixels);
        }
        if (pixels % multiple != 0) {
            int below = pixels / multiple * multiple;
            String latent = name.equals("imageSize") ? pixels / VAE_FACTOR + "x" + pixels / VAE_FACTOR + " latent"
                    : "latent " + name + " of " + pixels / VAE_FACTOR;
            throw new IllegalArgumentException(name + " " + pixels + " gives a " + latent + " (the VAE divides by "
                    + VAE_FACTOR + "), which the UNet cannot halve " + Integer.numberOfTrailingZeros(factor)
                    + " times: " + name + " must be a multiple of " + multiple + ", e.g. "
                    + (below > 0 ? below + " or " : "") + (below + multiple));
        }
    }

    /** The largest downsampling factor of the UNet's attention layers: its deepest level. */
    static int deepestFactor(UNetDescription unet) {
        int factor = 1;
        for (AttentionLayerInfo layer : unet.attentionLayers()) {
            factor = Math.max(factor, layer.downsampleFactor());
        }
        return factor;
    }

    private static void truncation(ClipTokenizer tokenizer, TokenizedPrompt prompt, String which,
                                   List<String> warnings) {
        if (!prompt.truncated()) {
            return;
        }
        int[] removed = prompt.truncatedIds();
        List<String> words = new ArrayList<>();
        for (int i = 0; i < Math.min(removed.length, 12); i++) {
            words.add(tokenizer.decode(removed[i]));
        }
        warnings.add("The " + which + " has " + (prompt.untruncatedLength() - 2) + " tokens; CLIP reads "
                + (prompt.maxLength() - 2) + ", so truncation removed the last " + removed.length + ": '"
                + String.join(" ", words) + (removed.length > 12 ? " ..." : "") + "'");
    }

    /**
     * The attention probabilities of the finest self-attention level dominate a UNet call's memory: the backends
     * materialise {@code softmax(Q K^T)} of {@code [batch*heads, N, N]}, N = pixels at that level, and hold the
     * scores and the probabilities at once.
     */
    static long attentionBytes(UNetDescription unet, int latentHeight, int latentWidth, Precision precision) {
        long largest = 0;
        for (AttentionLayerInfo layer : unet.attentionLayers()) {
            if (layer.id().kind() != AttentionKind.SELF) {
                continue;
            }
            long pixels = (long) (latentHeight / layer.downsampleFactor()) * (latentWidth / layer.downsampleFactor());
            largest = Math.max(largest, (long) layer.heads() * pixels * pixels);
        }
        int elementBytes = precision == Precision.FP16 || precision == Precision.BF16 ? 2 : 4;
        return 2L * LARGEST_BATCH * largest * elementBytes;
    }

    private static void requireAttentionMemory(UNetDescription unet, int latentHeight, int latentWidth,
                                               Precision precision) {
        long bytes = attentionBytes(unet, latentHeight, latentWidth, precision);
        MemoryBudget.requireNative("A " + latentWidth * VAE_FACTOR + "x" + latentHeight * VAE_FACTOR + " px "
                + "(width x height) generation in " + precision.label(), bytes, "scores and probabilities of the finest "
                + "self-attention for a batch of " + LARGEST_BATCH + ", " + MemoryBudget.gib(bytes)
                + ", on top of the loaded weights");
    }
}
