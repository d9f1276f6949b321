/**
 * diffusers' {@code UNet2DConditionModel} (v0.21.4) with attention capture ({@link dev.suppress.djl.unet.DjlDenoiser})
 * and the autograd probe ({@link dev.suppress.djl.unet.DjlGradientProbe}).
 */
package dev.suppress.djl.unet;
