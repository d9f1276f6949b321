package dev.suppress.djl.singlefile;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.suppress.core.io.SafetensorsDType;
import dev.suppress.core.io.SafetensorsFile;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes the LDM single-file layout of a diffusers SD 1.x/2.x or SDXL base folder (the inverse of
 * {@link LdmKeyMapping}, for tests and for exporting small models), renaming diffusers keys to LDM ones with rules
 * written from the LDM side (CompVis {@code openaimodel.py} / {@code model.py} module names, OpenCLIP's
 * {@code transformer.resblocks}, SDXL's {@code conditioner.embedders.N} of Stability's {@code sgm}), independently
 * of the main code's LDM → diffusers mapping. Adds what real files carry besides the model: for SD 1.x/2.x EMA
 * copies and DDPM schedule buffers; for OpenCLIP the fused {@code in_proj} and {@code logit_scale}; for SD 2.x the
 * last resblock it does not use and an unused {@code text_projection}; for SDXL's second encoder its
 * {@code text_projection} (the transpose of the diffusers linear weight, which SDXL uses). The model's tensors are
 * copied byte for byte in their own dtype from the memory-mapped folder files, one at a time (a fused
 * {@code in_proj} is its three row blocks in a row), so a full-size model converts in the memory of one tensor; what
 * the writer adds itself is F32.
 */
public final class LdmCheckpointWriter {

    private static final Pattern DOWN = Pattern.compile("down_blocks\\.(\\d+)\\.(resnets|attentions|downsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern UP = Pattern.compile("up_blocks\\.(\\d+)\\.(resnets|attentions|upsamplers)\\.(\\d+)\\.(.+)");
    private static final Pattern MID = Pattern.compile("mid_block\\.(resnets|attentions)\\.(\\d+)\\.(.+)");
    private static final Pattern VAE_BLOCK = Pattern.compile("(encoder\\.down|decoder\\.up)_blocks\\.(\\d+)\\.(resnets\\.(\\d+)|downsamplers\\.0|upsamplers\\.0)\\.(.+)");
    private static final Pattern VAE_MID = Pattern.compile("(encoder|decoder)\\.mid_block\\.(resnets\\.(\\d+)|attentions\\.0)\\.(.+)");
    private static final Pattern CLIP_LAYER = Pattern.compile("text_model\\.encoder\\.layers\\.(\\d+)\\.(.+)");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String SDXL_CLIP_PREFIX = "conditioner.embedders.0.transformer.";
    private static final String SDXL_OPEN_CLIP_PREFIX = "conditioner.embedders.1.model.";

    private LdmCheckpointWriter() {
    }

    /** The UNet key of a diffusers key (openaimodel.UNetModel names). */
    static String unetKey(String key, int layersPerBlock, java.util.function.IntPredicate upBlockHasAttention) {
        int perBlock = layersPerBlock + 1;
        // SDXL's add_embedding is openaimodel's label_emb: Sequential(Sequential(Linear, SiLU, Linear))
        Map<String, String> fixed = Map.of("time_embedding.linear_1", "time_embed.0", "time_embedding.linear_2",
                "time_embed.2", "conv_in", "input_blocks.0.0", "conv_norm_out", "out.0", "conv_out", "out.2",
                "add_embedding.linear_1", "label_emb.0.0", "add_embedding.linear_2", "label_emb.0.2");
        for (Map.Entry<String, String> entry : fixed.entrySet()) {
            if (key.startsWith(entry.getKey() + ".")) {
                return "model.diffusion_model." + entry.getValue() + key.substring(entry.getKey().length());
            }
        }
        Matcher m;
        String ldm;
        if ((m = DOWN.matcher(key)).matches()) {
            int block = Integer.parseInt(m.group(1));
            int index = Integer.parseInt(m.group(3));
            ldm = switch (m.group(2)) {
                case "resnets" -> "input_blocks." + (1 + block * perBlock + index) + ".0." + resnet(m.group(4));
                case "attentions" -> "input_blocks." + (1 + block * perBlock + index) + ".1." + m.group(4);
                default -> "input_blocks." + (1 + block * perBlock + layersPerBlock) + ".0.op."
                        + m.group(4).substring("conv.".length());
            };
        } else if ((m = UP.matcher(key)).matches()) {
            int block = Integer.parseInt(m.group(1));
            int index = Integer.parseInt(m.group(3));
            ldm = switch (m.group(2)) {
                case "resnets" -> "output_blocks." + (block * perBlock + index) + ".0." + resnet(m.group(4));
                case "attentions" -> "output_blocks." + (block * perBlock + index) + ".1." + m.group(4);
                default -> "output_blocks." + (block * perBlock + layersPerBlock) + "."
                        + (upBlockHasAttention.test(block) ? 2 : 1) + "." + m.group(4);
            };
        } else if ((m = MID.matcher(key)).matches()) {
            int index = Integer.parseInt(m.group(2));
            ldm = m.group(1).equals("resnets") ? "middle_block." + (2 * index) + "." + resnet(m.group(3))
                    : "middle_block.1." + m.group(3);
        } else {
            throw new IllegalArgumentException("No LDM name for UNet key " + key);
        }
        return "model.diffusion_model." + ldm;
    }

    private static String resnet(String rest) {
        return rest.replace("norm1", "in_layers.0").replace("conv1", "in_layers.2").replace("norm2", "out_layers.0")
                .replace("conv2", "out_layers.3").replace("time_emb_proj", "emb_layers.1")
                .replace("conv_shortcut", "skip_connection");
    }

    /** The VAE key of a diffusers key (ldm.modules.diffusionmodules.model names). */
    static String vaeKey(String key, int levels) {
        Matcher m;
        String ldm;
        if ((m = VAE_BLOCK.matcher(key)).matches()) {
            boolean encoder = m.group(1).startsWith("encoder");
            int block = Integer.parseInt(m.group(2));
            String half = encoder ? "encoder.down." + block : "decoder.up." + (levels - 1 - block);
            ldm = m.group(4) != null ? half + ".block." + m.group(4) + "." + m.group(5).replace("conv_shortcut",
                    "nin_shortcut") : half + (encoder ? ".downsample." : ".upsample.") + m.group(5);
        } else if ((m = VAE_MID.matcher(key)).matches()) {
            ldm = m.group(3) != null ? m.group(1) + ".mid.block_" + (Integer.parseInt(m.group(3)) + 1) + "."
                    + m.group(4).replace("conv_shortcut", "nin_shortcut")
                    : m.group(1) + ".mid.attn_1." + m.group(4).replace("group_norm", "norm").replace("to_q", "q")
                    .replace("to_k", "k").replace("to_v", "v").replace("to_out.0", "proj_out");
        } else {
            ldm = key.replace("conv_norm_out", "norm_out");
        }
        return "first_stage_model." + ldm;
    }

    /** What a real LDM file has besides the model: the DDPM buffers (1000 steps) and EMA bookkeeping. */
    static Map<String, long[]> extras() {
        Map<String, long[]> out = new LinkedHashMap<>();
        for (String name : List.of("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                "posterior_mean_coef1", "posterior_mean_coef2")) {
            out.put(name, new long[]{1000});
        }
        out.put("model_ema.decay", new long[]{});
        out.put("model_ema.num_updates", new long[]{});
        return out;
    }

    /**
     * Writes {@code folder}'s text encoder, UNet and VAE as one LDM file in the SD 1.x or SD 2.x layout.
     *
     * @param openClip write the text encoder in SD 2.x's OpenCLIP layout (with one extra, unused last resblock)
     * @throws UncheckedIOException when a file cannot be read or written
     */
    public static void write(Path folder, Path target, boolean openClip) {
        write(folder, target, openClip ? LdmArchitecture.SD2 : LdmArchitecture.SD1);
    }

    /**
     * Writes {@code folder}'s text encoder(s), UNet and VAE as one LDM file in {@code architecture}'s layout,
     * through a temporary sibling renamed into place when complete. SDXL (a folder with {@code text_encoder_2/}):
     * {@code text_encoder} under {@code conditioner.embedders.0.transformer.} as it is, {@code text_encoder_2} as
     * OpenCLIP under {@code conditioner.embedders.1.model.}, every layer, no EMA or DDPM buffers (Stability's
     * {@code sgm} files have none).
     *
     * @throws IllegalArgumentException when the folder has {@code text_encoder_2/} and the layout is not SDXL's, or
     *                                  the reverse
     * @throws UncheckedIOException     when a file cannot be read or written
     */
    public static void write(Path folder, Path target, LdmArchitecture architecture) {
        boolean sdxl = architecture == LdmArchitecture.SDXL;
        if (sdxl != Files.isDirectory(folder.resolve("text_encoder_2"))) {
            throw new IllegalArgumentException(folder + (sdxl ? " has no text_encoder_2/, which the SDXL layout "
                    + "needs" : " has text_encoder_2/ (SDXL): write it in the SDXL layout, not " + architecture.id()));
        }
        JsonNode unetConfig = read(folder.resolve("unet/config.json"));
        int layersPerBlock = unetConfig.path("layers_per_block").asInt(2);
        List<String> upTypes = JSON.convertValue(unetConfig.get("up_block_types"),
                JSON.getTypeFactory().constructCollectionType(List.class, String.class));
        int levels = read(folder.resolve("vae/config.json")).get("block_out_channels").size();
        try (SafetensorsFile unet = SafetensorsFile.open(folder.resolve("unet/diffusion_pytorch_model.safetensors"));
             SafetensorsFile vae = SafetensorsFile.open(folder.resolve("vae/diffusion_pytorch_model.safetensors"));
             SafetensorsFile clip = SafetensorsFile.open(folder.resolve("text_encoder/model.safetensors"));
             SafetensorsFile clip2 = sdxl ? SafetensorsFile.open(folder.resolve("text_encoder_2/model.safetensors"))
                     : null) {
            Map<String, Entry> out = new LinkedHashMap<>();
            for (String key : unet.names()) {
                out.put(unetKey(key, layersPerBlock, block -> upTypes.get(block).startsWith("CrossAttn")),
                        Entry.copy(unet, key));
            }
            // EMA copies of a few UNet tensors (LDM flattens the name): must be ignored, not loaded
            for (String key : List.copyOf(out.keySet())) {
                if (!sdxl && key.startsWith("model.diffusion_model.out.")) {
                    out.put("model_ema.diffusion_model" + key.substring("model.diffusion_model.".length())
                            .replace(".", ""), Entry.zeros(out.get(key).shape()));
                }
            }
            for (String key : vae.names()) {
                Entry entry = Entry.copy(vae, key);
                if (key.contains("mid_block.attentions.0.") && entry.shape().length == 2) {
                    entry = entry.reshaped(new long[]{entry.shape()[0], entry.shape()[1], 1, 1});
                }
                out.put(vaeKey(key, levels), entry);
            }
            if (sdxl) {
                for (String key : clip.names()) {
                    out.put(SDXL_CLIP_PREFIX + key, Entry.copy(clip, key));
                }
                planOpenClip(clip2, read(folder.resolve("text_encoder_2/config.json")), out, SDXL_OPEN_CLIP_PREFIX,
                        true);
            } else if (architecture == LdmArchitecture.SD2) {
                planOpenClip(clip, read(folder.resolve("text_encoder/config.json")), out, "cond_stage_model.model.",
                        false);
            } else {
                for (String key : clip.names()) {
                    out.put("cond_stage_model.transformer." + key, Entry.copy(clip, key));
                }
            }
            if (!sdxl) {
                extras().forEach((key, shape) -> out.put(key, Entry.zeros(shape)));
            }
            Path partial = target.resolveSibling(target.getFileName() + ".partial");
            try {
                writeFile(partial, out);
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot write " + target, e);
            } finally {
                try {
                    Files.deleteIfExists(partial);
                } catch (IOException ignored) {
                    // best effort: the partial file is named as such
                }
            }
        }
    }

    /** One tensor of the written file: its dtype, its shape, and the bytes it writes. */
    private record Entry(SafetensorsDType dtype, long[] shape, Source source) {

        static Entry copy(SafetensorsFile file, String name) {
            return new Entry(file.info(name).dtype(), file.info(name).shape(),
                    channel -> writeFully(channel, file.rawBytes(name)));
        }

        /** Row blocks of one dtype, one after another: their concatenation along the first axis. */
        static Entry rows(SafetensorsFile file, List<String> names) {
            SafetensorsDType dtype = file.info(names.get(0)).dtype();
            long[] shape = file.info(names.get(0)).shape().clone();
            shape[0] = 0;
            for (String name : names) {
                if (file.info(name).dtype() != dtype) {
                    throw new IllegalArgumentException(file.path() + ": " + names + " do not share one dtype");
                }
                shape[0] += file.info(name).shape()[0];
            }
            return new Entry(dtype, shape, channel -> {
                for (String name : names) {
                    writeFully(channel, file.rawBytes(name));
                }
            });
        }

        /** The 2-D transpose of a {@code [rows, columns]} tensor, in its dtype. */
        static Entry transposed(SafetensorsFile file, String name) {
            long[] shape = file.info(name).shape();
            if (shape.length != 2) {
                throw new IllegalArgumentException(file.path() + ": '" + name + "' " + java.util.Arrays.toString(shape)
                        + " is not 2-D");
            }
            SafetensorsDType dtype = file.info(name).dtype();
            return new Entry(dtype, new long[]{shape[1], shape[0]}, channel -> {
                ByteBuffer bytes = file.rawBytes(name);
                int rows = Math.toIntExact(shape[0]);
                int columns = Math.toIntExact(shape[1]);
                int size = dtype.byteSize();
                ByteBuffer out = ByteBuffer.allocate(bytes.remaining());
                for (int column = 0; column < columns; column++) {
                    for (int row = 0; row < rows; row++) {
                        int from = bytes.position() + (row * columns + column) * size;
                        for (int b = 0; b < size; b++) {
                            out.put(bytes.get(from + b));
                        }
                    }
                }
                writeFully(channel, out.flip());
            });
        }

        static Entry zeros(long[] shape) {
            return new Entry(SafetensorsDType.F32, shape, channel -> {
                ByteBuffer zeros = ByteBuffer.allocate(1 << 16);
                for (long left = 4 * count(shape); left > 0; left -= zeros.limit()) {
                    zeros.clear().limit((int) Math.min(zeros.capacity(), left));
                    writeFully(channel, zeros);
                }
            });
        }

        /** Standard normal values, drawn from {@code random} when the entry is written. */
        static Entry gaussian(long[] shape, Random random) {
            return new Entry(SafetensorsDType.F32, shape, channel -> {
                ByteBuffer values = ByteBuffer.allocate(Math.toIntExact(4 * count(shape))).order(ByteOrder.LITTLE_ENDIAN);
                while (values.hasRemaining()) {
                    values.putFloat((float) random.nextGaussian());
                }
                writeFully(channel, values.flip());
            });
        }

        Entry reshaped(long[] newShape) {
            if (count(newShape) != count(shape)) {
                throw new IllegalArgumentException("Cannot reshape " + java.util.Arrays.toString(shape) + " to "
                        + java.util.Arrays.toString(newShape));
            }
            return new Entry(dtype, newShape, source);
        }

        long bytes() {
            return count(shape) * dtype.byteSize();
        }
    }

    @FunctionalInterface
    private interface Source {
        void writeTo(FileChannel channel) throws IOException;
    }

    private static void writeFile(Path file, Map<String, Entry> entries) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        long offset = 0;
        for (Map.Entry<String, Entry> entry : entries.entrySet()) {
            ObjectNode info = header.putObject(entry.getKey());
            info.put("dtype", entry.getValue().dtype().name());
            ArrayNode shape = info.putArray("shape");
            for (long dimension : entry.getValue().shape()) {
                shape.add(dimension);
            }
            long length = entry.getValue().bytes();
            info.putArray("data_offsets").add(offset).add(offset + length);
            offset += length;
        }
        StringBuilder json = new StringBuilder(JSON.writeValueAsString(header));
        // pad so the data section starts 8-byte aligned, as the reference writer does
        while (json.length() % 8 != 0) {
            json.append(' ');
        }
        byte[] headerBytes = json.toString().getBytes(StandardCharsets.UTF_8);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer prefix = ByteBuffer.allocate(8 + headerBytes.length).order(ByteOrder.LITTLE_ENDIAN);
            writeFully(channel, prefix.putLong(headerBytes.length).put(headerBytes).flip());
            for (Entry entry : entries.values()) {
                long before = channel.position();
                entry.source().writeTo(channel);
                if (channel.position() - before != entry.bytes()) {
                    throw new IllegalStateException("Wrote " + (channel.position() - before) + " bytes for a tensor of "
                            + entry.bytes());
                }
            }
        }
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    private static long count(long[] shape) {
        long count = 1;
        for (long dimension : shape) {
            count *= dimension;
        }
        return count;
    }

    /**
     * An OpenCLIP text tower under {@code prefix}. SD 2.x ({@code sdxl} false): one extra random resblock and a
     * zero {@code text_projection}, both unused; SDXL: the model's own {@code text_projection}, transposed back.
     */
    private static void planOpenClip(SafetensorsFile clip, JsonNode config, Map<String, Entry> out, String prefix,
                                     boolean sdxl) {
        int layers = config.path("num_hidden_layers").asInt();
        int hidden = config.path("hidden_size").asInt();
        Map<String, String> fixed = Map.of("text_model.embeddings.position_embedding.weight", "positional_embedding",
                "text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "text_model.final_layer_norm.weight", "ln_final.weight",
                "text_model.final_layer_norm.bias", "ln_final.bias");
        Function<String, String> rename = rest -> rest.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj")
                .replace("self_attn.out_proj", "attn.out_proj");
        for (String key : clip.names()) {
            Matcher m = CLIP_LAYER.matcher(key);
            if (fixed.containsKey(key)) {
                out.put(prefix + fixed.get(key), Entry.copy(clip, key));
            } else if (m.matches() && m.group(2).startsWith("self_attn.") && !m.group(2).contains("out_proj")) {
                String kind = m.group(2).endsWith("weight") ? "weight" : "bias";
                String fused = prefix + "transformer.resblocks." + m.group(1) + ".attn.in_proj_" + kind;
                if (!out.containsKey(fused)) {
                    String base = "text_model.encoder.layers." + m.group(1) + ".self_attn.";
                    out.put(fused, Entry.rows(clip, List.of(base + "q_proj." + kind, base + "k_proj." + kind,
                            base + "v_proj." + kind)));
                }
            } else if (m.matches()) {
                out.put(prefix + "transformer.resblocks." + m.group(1) + "." + rename.apply(m.group(2)),
                        Entry.copy(clip, key));
            } else if (sdxl && key.equals("text_projection.weight")) {
                // OpenCLIP computes x @ text_projection; transformers' Linear computes x @ weight.T
                out.put(prefix + "text_projection", Entry.transposed(clip, key));
            } else if (!key.endsWith("position_ids")) {
                throw new IllegalArgumentException("No OpenCLIP name for " + key);
            }
        }
        if (sdxl) {
            if (!out.containsKey(prefix + "text_projection")) {
                throw new IllegalArgumentException(clip.path() + " has no text_projection.weight, which SDXL's "
                        + "second text encoder (CLIPTextModelWithProjection) has");
            }
            out.put(prefix + "logit_scale", Entry.zeros(new long[]{}));
            return;
        }
        // the last layer, which SD 2.x's penultimate-layer conditioning never uses: random, so loading it would show
        Random random = new Random(14);
        String first = prefix + "transformer.resblocks.0.";
        List<String> firstLayer = new ArrayList<>();
        for (String key : out.keySet()) {
            if (key.startsWith(first)) {
                firstLayer.add(key);
            }
        }
        for (String key : firstLayer) {
            out.put(prefix + "transformer.resblocks." + layers + "." + key.substring(first.length()),
                    Entry.gaussian(out.get(key).shape(), random));
        }
        out.put(prefix + "text_projection", Entry.zeros(new long[]{hidden, hidden}));
        out.put(prefix + "logit_scale", Entry.zeros(new long[]{}));
    }

    private static JsonNode read(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
