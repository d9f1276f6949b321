/**
 * diffusers' {@code UNet2DConditionModel} (v0.21.4) with attention capture ({@link dev.suppress.djl.unet.DjlDenoiser})
 * and the autograd probe ({@link dev.suppress.djl.unet.DjlGradientProbe}).
 *
 * <h2>SDXL (issue #14)</h2>
 * The SDXL base UNet's architecture (a first level without cross-attention, per-level
 * {@code transformer_layers_per_block}, linear projections, head counts in {@code attention_head_dim}, a 2048-wide
 * context) and its {@code addition_embed_type: "text_time"} embedding, fed through
 * {@link dev.suppress.djl.unet.TextTimeConditioning}. Core passes a pooled text embedding per batch element through
 * the seam's overloads that take one ({@code DenoiserWithAttention.denoise(latents, t, contexts, pooled, capture)},
 * and the probe's); {@code DjlDenoiser} adds SDXL's default time ids for the image size (original = target =
 * {@code (height, width)}, the latent's sides times 8, crop 0, 0). The probe holds the pooled embedding fixed: ITO's gradient is with respect to the
 * context only. The text side is {@code dev.suppress.djl.clip.SdxlTextEncoder}.
 *
 * <p>Latents may be rectangles {@code [batch, 4, h, w]}: each attention level's maps are {@code h_l x w_l}, its
 * query pixels the level's feature map flattened row-major.
 *
 * <p>Not here yet: micro-conditioning other than the defaults, and SDXL on the ONNX backend.
 */
package dev.suppress.djl.unet;
