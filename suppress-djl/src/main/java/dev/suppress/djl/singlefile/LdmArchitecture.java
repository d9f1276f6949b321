package dev.suppress.djl.singlefile;

import dev.suppress.core.io.ModelFormatException;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The Stable Diffusion architectures a single-file LDM checkpoint can be loaded as, and their detection from the
 * checkpoint's keys and shapes by the rules of diffusers' {@code infer_diffusers_model_type}
 * ({@code loaders/single_file_utils.py}, {@code CHECKPOINT_KEY_NAMES}).
 */
public enum LdmArchitecture {

    /** Stable Diffusion 1.x: OpenAI CLIP ViT-L/14 under {@code cond_stage_model.transformer.}; diffusers' "v1". */
    SD1("sd1", "Stable Diffusion 1.x", "v1"),
    /** Stable Diffusion 2.x (512 and 768): OpenCLIP ViT-H/14 under {@code cond_stage_model.model.}; "v2". */
    SD2("sd2", "Stable Diffusion 2.x", "v2"),
    /**
     * SDXL base (1.0 and its fine-tunes): OpenAI CLIP ViT-L/14 under {@code conditioner.embedders.0.transformer.}
     * and OpenCLIP ViT-bigG/14 with its projection under {@code conditioner.embedders.1.model.}; "xl_base".
     */
    SDXL("sdxl", "SDXL base", "xl_base");

    /** {@code CHECKPOINT_KEY_NAMES["v2"]}: its last dimension is the context width, 1024 for SD 2.x. */
    static final String V2_KEY = "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight";
    /** {@code CHECKPOINT_KEY_NAMES["inpainting"]}: the UNet's {@code conv_in}, whose input channels tell variants. */
    static final String CONV_IN_KEY = "model.diffusion_model.input_blocks.0.0.weight";
    /** {@code CHECKPOINT_KEY_NAMES["xl_base"]}: SDXL base's second text encoder (OpenCLIP bigG) has a 10th resblock. */
    static final String XL_BASE_KEY = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias";
    static final String XL_REFINER_KEY = "conditioner.embedders.0.model.transformer.resblocks.9.mlp.c_proj.bias";
    static final String UPSCALE_KEY = "model.diffusion_model.input_blocks.10.0.skip_connection.bias";
    static final List<String> CONTROLNET_KEYS = List.of("control_model.time_embed.0.weight",
            "controlnet_cond_embedding.conv_in.weight");
    static final String PLAYGROUND_KEY = "edm_mean";
    /** {@code CHECKPOINT_KEY_NAMES["clip"]}. */
    static final String CLIP_KEY = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight";
    /** {@code CHECKPOINT_KEY_NAMES["open_clip"]}. */
    static final String OPEN_CLIP_KEY = "cond_stage_model.model.token_embedding.weight";
    /** {@code CHECKPOINT_KEY_NAMES["open_clip_sdxl"]}'s tower: SDXL's second text encoder, of any depth. */
    static final String OPEN_CLIP_SDXL_KEY = "conditioner.embedders.1.model.token_embedding.weight";

    private final String id;
    private final String title;
    private final String diffusersType;

    LdmArchitecture(String id, String title, String diffusersType) {
        this.id = id;
        this.title = title;
        this.diffusersType = diffusersType;
    }

    /** The name {@code --arch} takes ({@code sd1}, {@code sd2}, {@code sdxl}). */
    public String id() {
        return id;
    }

    /** What it is, in words. */
    public String title() {
        return title;
    }

    /** The model type diffusers' {@code infer_diffusers_model_type} returns for it. */
    public String diffusersType() {
        return diffusersType;
    }

    /**
     * The architecture named {@code id} ({@code sd1}, {@code sd2}, {@code sdxl}; diffusers' {@code v1}, {@code v2},
     * {@code xl_base} too).
     *
     * @throws IllegalArgumentException naming the value and the choices
     */
    public static LdmArchitecture parse(String id) {
        String wanted = id.trim().toLowerCase(Locale.ROOT);
        for (LdmArchitecture architecture : values()) {
            if (architecture.id.equals(wanted) || architecture.diffusersType.equals(wanted)) {
                return architecture;
            }
        }
        throw new IllegalArgumentException("Unknown architecture '" + id + "': expected one of sd1, sd2, sdxl");
    }

    /**
     * What the keys and shapes say.
     *
     * @param architecture the architecture found
     * @param reason       which key and shape decided it, for the printed summary
     */
    public record Detection(LdmArchitecture architecture, String reason) {
    }

    /**
     * Detects the architecture, in the order of {@code infer_diffusers_model_type}: inpainting (9 input channels),
     * v2 (the cross-attention keys of {@link #V2_KEY} are 1024 wide), Playground, SDXL base ({@link #XL_BASE_KEY})
     * and refiner, the x4 upscaler, ControlNet, InstructPix2Pix (8 input channels), else v1. The variants this
     * library does not run are refused by their diffusers name. Two additions: a checkpoint whose {@link #V2_KEY}
     * is absent or narrower but whose text encoder is OpenCLIP ({@link #OPEN_CLIP_KEY}) is SD 2.x-shaped too (small
     * or non-standard SD 2.x models, which diffusers would call v1 and then load with its OpenCLIP converter
     * anyway); one with SDXL's second text encoder ({@link #OPEN_CLIP_SDXL_KEY}) but fewer than 10 resblocks is
     * SDXL-shaped (a small SDXL model, which diffusers would call v1 and fail to load).
     *
     * @param file   the checkpoint, for messages
     * @param shapes every key and its shape
     * @throws ModelFormatException when the checkpoint is not an LDM Stable Diffusion 1.x/2.x or SDXL base model
     */
    public static Detection detect(Path file, Map<String, long[]> shapes) {
        long[] convIn = shapes.get(CONV_IN_KEY);
        long[] v2 = shapes.get(V2_KEY);
        boolean isV2 = v2 != null && v2[v2.length - 1] == 1024;
        if (convIn != null && convIn.length == 4 && convIn[1] == 9) {
            throw unsupported(file, isV2 ? "inpainting_v2" : shapes.containsKey(XL_BASE_KEY) ? "xl_inpaint"
                    : "inpainting", "an inpainting UNet (" + CONV_IN_KEY + " has 9 input channels)");
        }
        if (isV2) {
            return new Detection(SD2, V2_KEY.substring("model.diffusion_model.".length()) + " is "
                    + Arrays.toString(v2) + ": 1024-wide context");
        }
        if (shapes.containsKey(PLAYGROUND_KEY)) {
            throw unsupported(file, "playground-v2-5", "a Playground v2.5 model (it has '" + PLAYGROUND_KEY + "')");
        }
        if (shapes.containsKey(XL_BASE_KEY)) {
            return new Detection(SDXL, "it has " + XL_BASE_KEY + " (diffusers' xl_base key)");
        }
        if (shapes.containsKey(XL_REFINER_KEY)) {
            throw unsupported(file, "xl_refiner", "an SDXL refiner (it has '" + XL_REFINER_KEY + "')");
        }
        if (shapes.containsKey(UPSCALE_KEY)) {
            throw unsupported(file, "upscale", "the x4 upscaler (it has '" + UPSCALE_KEY + "')");
        }
        for (String key : CONTROLNET_KEYS) {
            if (shapes.containsKey(key)) {
                throw unsupported(file, "controlnet", "a ControlNet (it has '" + key + "')");
            }
        }
        if (convIn != null && convIn.length == 4 && convIn[1] == 8) {
            throw unsupported(file, "instruct-pix2pix", "an InstructPix2Pix UNet (" + CONV_IN_KEY
                    + " has 8 input channels)");
        }
        if (convIn == null) {
            throw new ModelFormatException(file, "Not an LDM Stable Diffusion checkpoint: no '" + CONV_IN_KEY
                    + "' (the UNet's first convolution under model.diffusion_model.); found " + shapes.size()
                    + " tensors" + (shapes.isEmpty() ? "" : ", e.g. '" + shapes.keySet().iterator().next() + "'")
                    + ". A diffusers folder is loaded by giving the folder, not one of its files");
        }
        if (shapes.containsKey(OPEN_CLIP_SDXL_KEY)) {
            return new Detection(SDXL, "the second text encoder is SDXL's OpenCLIP (" + OPEN_CLIP_SDXL_KEY
                    + "), fewer than 10 resblocks deep");
        }
        if (shapes.containsKey(OPEN_CLIP_KEY) && !shapes.containsKey(CLIP_KEY)) {
            return new Detection(SD2, "the text encoder is OpenCLIP (" + OPEN_CLIP_KEY + ")"
                    + (v2 == null ? "" : "; " + V2_KEY + " is " + Arrays.toString(v2)));
        }
        return new Detection(SD1, v2 == null ? "no " + V2_KEY.substring("model.diffusion_model.".length())
                : V2_KEY.substring("model.diffusion_model.".length()) + " is " + Arrays.toString(v2)
                + ": not the 1024-wide context of SD 2.x");
    }

    private static ModelFormatException unsupported(Path file, String type, String what) {
        return new ModelFormatException(file, "The checkpoint is " + what + " (diffusers model type '" + type
                + "'); this library loads Stable Diffusion 1.x, 2.x and SDXL base text-to-image checkpoints "
                + "(sd1, sd2, sdxl)");
    }

    @Override
    public String toString() {
        return id;
    }
}
