/**
 * diffusers' {@code UNet2DConditionModel} (v0.21.4) with attention capture ({@link dev.suppress.djl.unet.DjlDenoiser})
 * and the autograd probe ({@link dev.suppress.djl.unet.DjlGradientProbe}).
 *
 * <h2>SDXL (issue #14): what is here and what is not</h2>
 * Here: the SDXL base UNet's architecture (a first level without cross-attention, per-level
 * {@code transformer_layers_per_block}, linear projections, head counts in {@code attention_head_dim}, a 2048-wide
 * context), its {@code addition_embed_type: "text_time"} embedding, fed through
 * {@link dev.suppress.djl.unet.TextTimeConditioning} by {@code DjlDenoiser}'s overloads that take one, and, in
 * {@code dev.suppress.djl.clip}, {@code text_encoder_2}'s {@code text_projection}, penultimate hidden states and
 * pooled [EOT] output ({@code DjlTextEncoder.encodeWithPooled}). The core seam ({@code DenoiserWithAttention}) is
 * unchanged: its methods pass no conditioning, which an SDXL UNet refuses by name.
 *
 * <p>Not here yet:
 * <ul>
 *   <li>the pipeline wiring: both tokenizers ({@code tokenizer_2} pads with "!"), the two encoders' penultimate
 *       states concatenated to 2048 (with {@code clip_skip}), the pooled embedding and {@code add_time_ids} (original
 *       size, crop top-left, target size) per guidance half, zero unconditional embeddings when
 *       {@code force_zeros_for_empty_prompt} and no negative prompt; a core seam for the conditioning once the
 *       pipeline needs it, and in the autograd probe ({@code DjlGradientProbe} passes none today, so ITO on SDXL
 *       fails clearly rather than wrongly);</li>
 *   <li>what suppression does to the pooled embedding (keep it, or regularise it too): to be measured;</li>
 *   <li>the VAE's SDXL settings: {@code scaling_factor} 0.13025 is read already, {@code force_upcast} (never decode
 *       SDXL's VAE in fp16) is not yet honoured;</li>
 *   <li>the ONNX backend, single-file SDXL checkpoints, and {@code make-model --arch sdxl}.</li>
 * </ul>
 */
package dev.suppress.djl.unet;
