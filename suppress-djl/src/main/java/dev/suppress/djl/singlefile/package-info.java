/**
 * Single-file Stable Diffusion checkpoints in the original LDM layout: {@link
 * dev.suppress.djl.singlefile.SingleFileCheckpoint} (inspect, prepare), {@link
 * dev.suppress.djl.singlefile.LdmArchitecture} (detection after diffusers' {@code infer_diffusers_model_type}),
 * and the renaming views the DJL backend loads the parts through. See the module README.
 */
package dev.suppress.djl.singlefile;
