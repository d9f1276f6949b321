/**
 * The DJL backend: Stable Diffusion 1.x/2.x from an unchanged diffusers folder, written on DJL NDArrays with the
 * PyTorch engine, with attention capture and an autograd gradient probe.
 *
 * <p>Entry points: {@link dev.suppress.djl.DjlBackendProvider} (found by {@link java.util.ServiceLoader} under the
 * name {@code djl}) and {@link dev.suppress.djl.DjlDiffusionBackend#open}. The parts can also be opened one by one:
 * {@link dev.suppress.djl.clip.DjlTextEncoder}, {@link dev.suppress.djl.unet.DjlDenoiser} with
 * {@link dev.suppress.djl.unet.DjlGradientProbe}, {@link dev.suppress.djl.vae.DjlLatentDecoder} and
 * {@link dev.suppress.djl.vae.DjlLatentEncoder}.
 *
 * <h2>Devices</h2>
 * The CPU is the default. {@code BackendOptions.device()} {@code Device.gpu(n)} maps to DJL's
 * {@code Device.gpu(n)} (see {@link dev.suppress.djl.nn.TorchRuntime#toDjlDevice}), which needs a CUDA build of
 * libtorch 2.7.1 instead of the CPU one this module depends on:
 * <pre>{@code
 * <dependency>
 *   <groupId>dev.suppress</groupId>
 *   <artifactId>suppress-djl</artifactId>
 *   <exclusions>
 *     <exclusion>
 *       <groupId>ai.djl.pytorch</groupId>
 *       <artifactId>pytorch-native-cpu</artifactId>
 *     </exclusion>
 *   </exclusions>
 * </dependency>
 * <dependency>
 *   <groupId>ai.djl.pytorch</groupId>
 *   <artifactId>pytorch-native-cu128</artifactId>
 *   <version>2.7.1</version>
 *   <classifier>linux-x86_64</classifier>
 *   <scope>runtime</scope>
 * </dependency>
 * }</pre>
 * ({@code pytorch-jni 2.7.1-0.36.0} carries the JNI library for {@code cu128}), or set the environment variable
 * {@code PYTORCH_LIBRARY_PATH} to an unpacked CUDA libtorch 2.7.1. A GPU that PyTorch does not see is an
 * {@link java.lang.IllegalStateException} naming these options, unless {@code BackendOptions.allowCpuFallback()}
 * is set, in which case the model loads on the CPU.
 *
 * <h2>Offline</h2>
 * Nothing is downloaded: unless the application sets {@code ai.djl.offline} itself, the backend sets it to
 * {@code true} before DJL starts, and DJL extracts libtorch and its JNI library from the jars into
 * {@code ~/.djl.ai}.
 *
 * <h2>Memory</h2>
 * Each model part owns one NDManager holding its float32 weights, capped after loading; every call runs in a
 * sub-manager closed before it returns and copies its results into core tensors.
 */
package dev.suppress.djl;
