/**
 * The ONNX Runtime backend: Stable Diffusion from a diffusers/optimum ONNX export ({@code text_encoder/},
 * {@code unet/}, {@code vae_decoder/}, {@code vae_encoder/}, each a {@code model.onnx}), registered with
 * {@link java.util.ServiceLoader} as {@code onnx}. Entry point: {@link dev.suppress.onnx.OrtDiffusionBackend#open}.
 * One package-private class per model part owns its session; attention maps come from graph edits made by
 * {@link dev.suppress.onnx.graph} before the UNet's sessions are created.
 */
package dev.suppress.onnx;
