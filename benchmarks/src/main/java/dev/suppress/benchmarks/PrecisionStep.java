package dev.suppress.benchmarks;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import dev.suppress.core.backend.UNetDescription;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.djl.unet.DjlDenoiser;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Map;
import java.util.Random;

/**
 * One UNet step of Stable Diffusion 1.5's configuration (random weights) in a chosen compute type: load time,
 * seconds per step at batch 2 and 4 on 64x64 latents, and the process's peak resident memory (VmHWM).
 *
 * <p>The random-weight UNet (SD 1.5's unet/config.json, F32 safetensors written tensor by tensor, ~3.4 GB) is
 * generated into {@code DIR} on first use. Run it alone: it needs ~8 GB.
 *
 * <pre>flock /tmp/suppress-heavy.lock java -cp benchmarks/target/benchmarks.jar \
 *     dev.suppress.benchmarks.PrecisionStep DIR [fp32|fp16] [repeats] [batches, e.g. 2,4]</pre>
 */
public final class PrecisionStep {

    /** diffusers' unet/config.json of runwayml/stable-diffusion-v1-5 (the fields our loader reads). */
    private static final String SD15_UNET_CONFIG = """
            {"_class_name": "UNet2DConditionModel", "act_fn": "silu", "attention_head_dim": 8,
             "block_out_channels": [320, 640, 1280, 1280], "center_input_sample": false,
             "cross_attention_dim": 768,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                  "DownBlock2D"],
             "downsample_padding": 1, "flip_sin_to_cos": true, "freq_shift": 0, "in_channels": 4,
             "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
             "out_channels": 4, "sample_size": 64,
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
            """;

    private PrecisionStep() {
    }

    public static void main(String[] args) throws IOException {
        Path folder = Path.of(args[0]);
        DataType type = args.length > 1 && args[1].equals("fp16") ? DataType.FLOAT16 : DataType.FLOAT32;
        int repeats = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        int[] batches = args.length > 3 ? java.util.Arrays.stream(args[3].split(",")).mapToInt(Integer::parseInt)
                .toArray() : new int[] {2, 4};
        Path unet = folder.resolve("unet");
        if (!Files.isRegularFile(unet.resolve("diffusion_pytorch_model.safetensors"))) {
            Files.createDirectories(unet);
            Files.writeString(unet.resolve("config.json"), SD15_UNET_CONFIG);
            long started = System.nanoTime();
            writeRandomWeights(unet.resolve("diffusion_pytorch_model.safetensors"),
                    DjlDenoiser.parameterShapes(unet));
            System.out.printf(Locale.ROOT, "generated %s in %.1f s%n", unet, (System.nanoTime() - started) / 1e9);
        }
        long loadStarted = System.nanoTime();
        try (DjlDenoiser denoiser = DjlDenoiser.open(unet, Device.cpu(), UNetDescription.PredictionType.EPSILON,
                type)) {
            System.out.printf(Locale.ROOT, "loaded %s in %.1f s, VmRSS %d MB%n", type,
                    (System.nanoTime() - loadStarted) / 1e9, status("VmRSS") / 1024);
            Random random = new Random(2023);
            for (int batch : batches) {
                Tensor latent = Tensor.of(gaussian(random, batch * 4 * 64 * 64), batch, 4, 64, 64);
                Tensor context = Tensor.of(gaussian(random, batch * 77 * 768), batch, 77, 768);
                for (int r = 0; r < repeats; r++) {
                    long started = System.nanoTime();
                    Tensor noise = denoiser.denoise(latent, 981, context, null).noisePrediction();
                    double seconds = (System.nanoTime() - started) / 1e9;
                    System.out.printf(Locale.ROOT, "%s batch %d step %.2f s (finite: %b), VmHWM %d MB%n", type,
                            batch, seconds, Float.isFinite(noise.get(0)), status("VmHWM") / 1024);
                }
            }
        }
    }

    private static float[] gaussian(Random random, int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return values;
    }

    /**
     * A safetensors file of F32 tensors: norm weights 1, biases 0, other weights uniform in +-sqrt(3/fanIn) (unit
     * variance per output), written one tensor at a time.
     */
    private static void writeRandomWeights(Path file, Map<String, long[]> shapes) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
            long count = 1;
            StringBuilder shape = new StringBuilder("[");
            for (long dim : entry.getValue()) {
                count *= dim;
                shape.append(shape.length() > 1 ? "," : "").append(dim);
            }
            shape.append(']');
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(entry.getKey()).append("\":{\"dtype\":\"F32\",\"shape\":").append(shape)
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + 4 * count)
                    .append("]}");
            offset += 4 * count;
        }
        header.append('}');
        while ((header.length() + 8) % 8 != 0) {
            header.append(' ');
        }
        byte[] headerBytes = header.toString().getBytes(StandardCharsets.UTF_8);
        Random random = new Random(7);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer prefix = ByteBuffer.allocate(8 + headerBytes.length).order(ByteOrder.LITTLE_ENDIAN);
            prefix.putLong(headerBytes.length).put(headerBytes).flip();
            channel.write(prefix);
            ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
            for (Map.Entry<String, long[]> entry : shapes.entrySet()) {
                long[] shape = entry.getValue();
                long count = 1;
                for (long dim : shape) {
                    count *= dim;
                }
                String key = entry.getKey();
                boolean norm = key.contains("norm") && key.endsWith(".weight");
                boolean bias = key.endsWith(".bias");
                long fanIn = shape.length > 1 ? count / shape[0] : 1;
                float bound = (float) Math.sqrt(3.0 / fanIn);
                for (long i = 0; i < count; i++) {
                    float value = norm ? 1f : bias ? 0f : (random.nextFloat() * 2 - 1) * bound;
                    chunk.putFloat(value);
                    if (!chunk.hasRemaining()) {
                        chunk.flip();
                        channel.write(chunk);
                        chunk.clear();
                    }
                }
            }
            chunk.flip();
            channel.write(chunk);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** A {@code /proc/self/status} field in kB. */
    private static long status(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
