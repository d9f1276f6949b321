/**
 * The command line's default model: a tiny random-weight Stable Diffusion 1.x-shaped diffusers folder generated
 * from a fixed seed, with OpenAI CLIP's tokenizer; see {@link dev.suppress.examples.tiny.TinyModel}.
 */
package dev.suppress.examples.tiny;
