/** transformers' {@code CLIPTextModel} (SD 1.x quick_gelu, SD 2.x OpenCLIP gelu) behind core's text encoder seam. */
package dev.suppress.djl.clip;
