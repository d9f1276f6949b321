/**
 * Reading a diffusers model part: its {@code config.json}, which safetensors file holds its weights, and loading
 * them by their exact diffusers/transformers keys with shape checks. Public for the sibling packages; not a stable
 * API.
 */
package dev.suppress.djl.weights;
