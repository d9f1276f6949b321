/** diffusers' {@code AutoencoderKL}: the decoder and the encoder, each loadable on its own. */
package dev.suppress.djl.vae;
