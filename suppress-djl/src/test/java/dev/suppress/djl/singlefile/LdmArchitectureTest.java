package dev.suppress.djl.singlefile;

import dev.suppress.core.io.ModelFormatException;
import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import dev.suppress.djl.vae.DjlLatentEncoder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Detection and key mapping on the full key and shape lists of SD 1.5 ({@code v1-5-pruned.safetensors}), SD 2.1
 * ({@code v2-1_768-ema-pruned.safetensors}) and SDXL base 1.0 ({@code sd_xl_base_1.0.safetensors}). The lists (test
 * resources {@code sd15-keys.txt.gz}, {@code sd21-keys.txt.gz}, {@code sdxl-base-keys.txt.gz}: one
 * {@code key<TAB>shape} per line) are derived from the published diffusers configs of {@code stable-diffusion-v1-5},
 * {@code stable-diffusion-2-1} and {@code stable-diffusion-xl-base-1.0} (the ones this library ships) through the
 * model code's {@code parameterShapes} and {@link LdmCheckpointWriter}'s diffusers → LDM names (written from the LDM
 * side, independently of the main mapping), plus what the real files hold besides the model: EMA bookkeeping and
 * the DDPM buffers (SD 1.x/2.x), CLIP's {@code position_ids}, OpenCLIP's {@code text_projection} (SD 2.1: unused,
 * with an unused 24th resblock; SDXL: used) and SDXL's {@code logit_scale}. Run with
 * {@code -Dsuppress.regenerateKeyLists=DIR} to write them again.
 */
class LdmArchitectureTest {

    private static final Pattern CLIP_LAYER = Pattern.compile("text_model\\.encoder\\.layers\\.(\\d+)\\.(.+)");

    @TempDir
    Path temp;

    @Test
    void sd15IsDetectedAsSd1AndMapsOntoTheShippedConfigs() {
        Map<String, long[]> keys = readList("sd15-keys.txt.gz");
        LdmArchitecture.Detection detection = LdmArchitecture.detect(Path.of("v1-5-pruned.safetensors"), keys);
        assertEquals(LdmArchitecture.SD1, detection.architecture(), detection.reason());
        Path configs = shippedConfigs("sd1");
        assertMapsExactly(LdmKeyMapping.clip(null, keys, LdmKeyMapping.CLIP_PREFIX),
                DjlTextEncoder.parameterShapes(configs.resolve("text_encoder")));
        assertStandardUnetAndVae(keys, configs);
    }

    @Test
    void sd21IsDetectedAsSd2AndMapsOntoTheShippedConfigs() {
        Map<String, long[]> keys = readList("sd21-keys.txt.gz");
        LdmArchitecture.Detection detection = LdmArchitecture.detect(Path.of("v2-1_768-ema-pruned.safetensors"), keys);
        assertEquals(LdmArchitecture.SD2, detection.architecture(), detection.reason());
        assertTrue(detection.reason().contains("1024"), detection.reason());
        Path configs = shippedConfigs("sd2");
        LdmKeyMapping.PartMapping clip = LdmKeyMapping.openClip(null, keys, LdmKeyMapping.OPEN_CLIP_PREFIX, 23, 1024,
                false);
        assertMapsExactly(clip, DjlTextEncoder.parameterShapes(configs.resolve("text_encoder")));
        // diffusers' SD_2_TEXT_ENCODER_KEYS_TO_IGNORE: resblock 23 (12 tensors) and text_projection
        assertEquals(13, clip.skipped().size(), clip.skipped().toString());
        assertStandardUnetAndVae(keys, configs);
    }

    @Test
    void sdxlBaseIsDetectedAsSdxlAndMapsOntoTheShippedConfigs() {
        Map<String, long[]> keys = readList("sdxl-base-keys.txt.gz");
        LdmArchitecture.Detection detection = LdmArchitecture.detect(Path.of("sd_xl_base_1.0.safetensors"), keys);
        assertEquals(LdmArchitecture.SDXL, detection.architecture(), detection.reason());
        assertTrue(detection.reason().contains(LdmArchitecture.XL_BASE_KEY), detection.reason());
        Path configs = shippedConfigs("sdxl");
        assertMapsExactly(LdmKeyMapping.clip(null, keys, LdmKeyMapping.SDXL_CLIP_PREFIX),
                DjlTextEncoder.parameterShapes(configs.resolve("text_encoder")));
        LdmKeyMapping.PartMapping open = LdmKeyMapping.openClip(null, keys, LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX, 32,
                1280, true);
        assertMapsExactly(open, DjlTextEncoder.parameterShapes(configs.resolve("text_encoder_2")));
        // all 32 resblocks are read (none of SD 2.x's dropped last layer); only logit_scale is left
        assertEquals(List.of(LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX + "logit_scale"), open.skipped());
        assertTrue(open.tensors().containsKey("text_model.encoder.layers.31.mlp.fc2.bias"));
        assertEquals(new LdmTensor(LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX + "text_projection", new long[]{1280, 1280}, 0,
                -1, true), open.tensors().get("text_projection.weight"));
        Map<String, long[]> unet = DjlDenoiser.parameterShapes(configs.resolve("unet"));
        assertTrue(unet.containsKey("add_embedding.linear_1.weight"), "SDXL's UNet has add_embedding");
        assertMapsExactly(LdmKeyMapping.unet(null, keys, 2), unet);
        assertEquals("add_embedding.linear_2.weight", LdmKeyMapping.unet(null, keys, 2).tensors().entrySet().stream()
                .filter(e -> e.getValue().sourceKey().equals("model.diffusion_model.label_emb.0.2.weight"))
                .findFirst().orElseThrow().getKey());
        Map<String, long[]> vae = new LinkedHashMap<>(DjlLatentEncoder.parameterShapes(configs.resolve("vae")));
        vae.putAll(DjlLatentDecoder.parameterShapes(configs.resolve("vae")));
        assertMapsExactly(LdmKeyMapping.vae(null, keys, 4), vae);
    }

    @Test
    void aShallowSdxlIsStillSdxlAndTheRefinerIsRefused() {
        Map<String, long[]> shallow = readList("sdxl-base-keys.txt.gz");
        shallow.keySet().removeIf(key -> key.matches("conditioner\\.embedders\\.1\\.model\\.transformer\\.resblocks\\."
                + "([4-9]|[1-3][0-9])\\..*"));
        assertTrue(!shallow.containsKey(LdmArchitecture.XL_BASE_KEY));
        LdmArchitecture.Detection detection = LdmArchitecture.detect(Path.of("small-xl.safetensors"), shallow);
        assertEquals(LdmArchitecture.SDXL, detection.architecture(), detection.reason());
        Map<String, long[]> refiner = readList("sdxl-base-keys.txt.gz");
        refiner.keySet().removeIf(key -> key.startsWith("conditioner."));
        refiner.put(LdmArchitecture.XL_REFINER_KEY, new long[]{1280});
        assertRefused(refiner, "'xl_refiner'");
        Map<String, long[]> inpainting = readList("sdxl-base-keys.txt.gz");
        inpainting.put(LdmArchitecture.CONV_IN_KEY, new long[]{320, 9, 3, 3});
        assertRefused(inpainting, "'xl_inpaint'");
        assertEquals(LdmArchitecture.SDXL, LdmArchitecture.parse("xl_base"));
        assertEquals(LdmArchitecture.SDXL, LdmArchitecture.parse("SDXL"));
    }

    private static void assertStandardUnetAndVae(Map<String, long[]> keys, Path configs) {
        assertMapsExactly(LdmKeyMapping.unet(null, keys, 2), DjlDenoiser.parameterShapes(configs.resolve("unet")));
        Map<String, long[]> vae = new LinkedHashMap<>(DjlLatentEncoder.parameterShapes(configs.resolve("vae")));
        vae.putAll(DjlLatentDecoder.parameterShapes(configs.resolve("vae")));
        assertMapsExactly(LdmKeyMapping.vae(null, keys, 4), vae);
    }

    private static void assertMapsExactly(LdmKeyMapping.PartMapping mapping, Map<String, long[]> expected) {
        assertEquals(List.of(), mapping.unmapped());
        Map<String, long[]> mapped = new TreeMap<>();
        mapping.tensors().forEach((key, tensor) -> mapped.put(key, tensor.shape()));
        Map<String, long[]> wanted = new TreeMap<>(expected);
        // CLIP's position_ids buffer is in SD 1.x files; the model ignores it
        mapped.keySet().removeIf(key -> key.endsWith("position_ids") && !wanted.containsKey(key));
        assertEquals(wanted.keySet(), mapped.keySet());
        wanted.forEach((key, shape) -> assertArrayEquals(shape, mapped.get(key), key));
    }

    @Test
    void variantsThisLibraryDoesNotRunAreRefusedByTheirDiffusersName() {
        Map<String, long[]> inpainting = readList("sd15-keys.txt.gz");
        inpainting.put(LdmArchitecture.CONV_IN_KEY, new long[]{320, 9, 3, 3});
        assertRefused(inpainting, "'inpainting'");
        Map<String, long[]> pix2pix = readList("sd15-keys.txt.gz");
        pix2pix.put(LdmArchitecture.CONV_IN_KEY, new long[]{320, 8, 3, 3});
        assertRefused(pix2pix, "'instruct-pix2pix'");
        Map<String, long[]> playground = readList("sdxl-base-keys.txt.gz");
        playground.put(LdmArchitecture.PLAYGROUND_KEY, new long[]{1, 4, 1, 1});
        assertRefused(playground, "'playground-v2-5'");
        Map<String, long[]> inpaintingV2 = readList("sd21-keys.txt.gz");
        inpaintingV2.put(LdmArchitecture.CONV_IN_KEY, new long[]{320, 9, 3, 3});
        assertRefused(inpaintingV2, "'inpainting_v2'");
        Map<String, long[]> noUnet = readList("sd15-keys.txt.gz");
        noUnet.keySet().removeIf(key -> key.startsWith("model.diffusion_model."));
        assertRefused(noUnet, "Not an LDM Stable Diffusion checkpoint");
    }

    private static void assertRefused(Map<String, long[]> keys, String expected) {
        ModelFormatException refused = assertThrows(ModelFormatException.class,
                () -> LdmArchitecture.detect(Path.of("x.safetensors"), keys));
        assertTrue(refused.getMessage().contains(expected), refused.getMessage());
    }

    @Test
    void theListsAreThoseTheShippedConfigsImply() throws IOException {
        String regenerate = System.getProperty("suppress.regenerateKeyLists");
        if (regenerate != null) {
            write(Path.of(regenerate).resolve("sd15-keys.txt.gz"), derive("sd1"));
            write(Path.of(regenerate).resolve("sd21-keys.txt.gz"), derive("sd2"));
            write(Path.of(regenerate).resolve("sdxl-base-keys.txt.gz"), derive("sdxl"));
            return;
        }
        assertEquals(render(derive("sd1")), render(readList("sd15-keys.txt.gz")));
        assertEquals(render(derive("sd2")), render(readList("sd21-keys.txt.gz")));
        assertEquals(render(derive("sdxl")), render(readList("sdxl-base-keys.txt.gz")));
    }

    /** The LDM key list of a shipped architecture, as {@link LdmCheckpointWriter} names the parameters. */
    private Map<String, long[]> derive(String architecture) {
        Path configs = shippedConfigs(architecture);
        Map<String, long[]> out = new LinkedHashMap<>();
        List<String> upTypes = architecture.equals("sdxl")
                ? List.of("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D")
                : List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D");
        DjlDenoiser.parameterShapes(configs.resolve("unet")).forEach((key, shape) -> out.put(
                LdmCheckpointWriter.unetKey(key, 2, block -> upTypes.get(block).startsWith("CrossAttn")), shape));
        Map<String, long[]> vae = new LinkedHashMap<>(DjlLatentEncoder.parameterShapes(configs.resolve("vae")));
        vae.putAll(DjlLatentDecoder.parameterShapes(configs.resolve("vae")));
        vae.forEach((key, shape) -> out.put(LdmCheckpointWriter.vaeKey(key, 4),
                key.contains("mid_block.attentions.0.") && shape.length == 2
                        ? new long[]{shape[0], shape[1], 1, 1} : shape));
        Map<String, long[]> clip = DjlTextEncoder.parameterShapes(configs.resolve("text_encoder"));
        if (architecture.equals("sd1")) {
            clip.forEach((key, shape) -> out.put("cond_stage_model.transformer." + key, shape));
            out.put("cond_stage_model.transformer.text_model.embeddings.position_ids", new long[]{1, 77});
        } else if (architecture.equals("sd2")) {
            openClipShapes(clip, out);
        } else {
            clip.forEach((key, shape) -> out.put("conditioner.embedders.0.transformer." + key, shape));
            out.put("conditioner.embedders.0.transformer.text_model.embeddings.position_ids", new long[]{1, 77});
            sdxlOpenClipShapes(DjlTextEncoder.parameterShapes(configs.resolve("text_encoder_2")), out);
            return out;
        }
        out.putAll(LdmCheckpointWriter.extras());
        return out;
    }

    /** SDXL's OpenCLIP bigG tower: 32 resblocks with fused in_proj, all used, text_projection and logit_scale. */
    private static void sdxlOpenClipShapes(Map<String, long[]> clip, Map<String, long[]> out) {
        String prefix = "conditioner.embedders.1.model.";
        Map<String, String> fixed = Map.of("text_model.embeddings.position_embedding.weight", "positional_embedding",
                "text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "text_model.final_layer_norm.weight", "ln_final.weight",
                "text_model.final_layer_norm.bias", "ln_final.bias");
        for (Map.Entry<String, long[]> entry : clip.entrySet()) {
            String key = entry.getKey();
            long[] shape = entry.getValue();
            Matcher m = CLIP_LAYER.matcher(key);
            if (fixed.containsKey(key)) {
                out.put(prefix + fixed.get(key), shape);
            } else if (key.equals("text_projection.weight")) {
                out.put(prefix + "text_projection", new long[]{shape[1], shape[0]});
            } else if (m.matches()) {
                String base = prefix + "transformer.resblocks." + m.group(1) + ".";
                String rest = m.group(2);
                if (rest.startsWith("self_attn.q_proj.")) {
                    long[] fused = shape.clone();
                    fused[0] *= 3;
                    out.put(base + "attn.in_proj_" + (rest.endsWith("weight") ? "weight" : "bias"), fused);
                } else if (!rest.startsWith("self_attn.k_proj.") && !rest.startsWith("self_attn.v_proj.")) {
                    out.put(base + rest.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                            .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj")
                            .replace("self_attn.out_proj", "attn.out_proj"), shape);
                }
            } else {
                throw new IllegalArgumentException("No OpenCLIP name for " + key);
            }
        }
        out.put(prefix + "logit_scale", new long[]{});
    }

    /** SD 2.1's OpenCLIP tower: 24 resblocks with fused in_proj (the 24th unused), and text_projection. */
    private static void openClipShapes(Map<String, long[]> clip, Map<String, long[]> out) {
        String prefix = "cond_stage_model.model.";
        Map<String, String> fixed = Map.of("text_model.embeddings.position_embedding.weight", "positional_embedding",
                "text_model.embeddings.token_embedding.weight", "token_embedding.weight",
                "text_model.final_layer_norm.weight", "ln_final.weight",
                "text_model.final_layer_norm.bias", "ln_final.bias");
        for (Map.Entry<String, long[]> entry : clip.entrySet()) {
            String key = entry.getKey();
            long[] shape = entry.getValue();
            Matcher m = CLIP_LAYER.matcher(key);
            if (fixed.containsKey(key)) {
                out.put(prefix + fixed.get(key), shape);
            } else if (m.matches()) {
                for (int layer : new int[]{Integer.parseInt(m.group(1)), 23}) {
                    String base = prefix + "transformer.resblocks." + layer + ".";
                    String rest = m.group(2);
                    if (rest.startsWith("self_attn.q_proj.")) {
                        long[] fused = shape.clone();
                        fused[0] *= 3;
                        out.put(base + "attn.in_proj_" + (rest.endsWith("weight") ? "weight" : "bias"), fused);
                    } else if (!rest.startsWith("self_attn.k_proj.") && !rest.startsWith("self_attn.v_proj.")) {
                        out.put(base + rest.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                                .replace("mlp.fc1", "mlp.c_fc").replace("mlp.fc2", "mlp.c_proj")
                                .replace("self_attn.out_proj", "attn.out_proj"), shape);
                    }
                }
            }
        }
        out.put(prefix + "text_projection", new long[]{1024, 1024});
    }

    private Path shippedConfigs(String architecture) {
        Path folder = temp.resolve(architecture);
        for (String relative : List.of("text_encoder/config.json", "unet/config.json", "vae/config.json",
                "text_encoder_2/config.json")) {
            if (getClass().getResource("/dev/suppress/djl/singlefile/" + architecture + "/" + relative) == null) {
                continue;
            }
            try (InputStream in = getClass().getResourceAsStream("/dev/suppress/djl/singlefile/" + architecture + "/"
                    + relative)) {
                Files.createDirectories(folder.resolve(relative).getParent());
                Files.write(folder.resolve(relative), in.readAllBytes());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return folder;
    }

    private static Map<String, long[]> readList(String resource) {
        Map<String, long[]> out = new LinkedHashMap<>();
        try (InputStream raw = LdmArchitectureTest.class.getResourceAsStream(resource);
             BufferedReader in = new BufferedReader(new InputStreamReader(new GZIPInputStream(raw),
                     StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] fields = line.split("\t");
                String dims = fields[1].substring(1, fields[1].length() - 1).trim();
                out.put(fields[0], dims.isEmpty() ? new long[0]
                        : Arrays.stream(dims.split(",")).mapToLong(d -> Long.parseLong(d.trim())).toArray());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    private static String render(Map<String, long[]> keys) {
        StringBuilder text = new StringBuilder();
        new TreeMap<>(keys).forEach((key, shape) -> text.append(key).append('\t').append(Arrays.toString(shape))
                .append('\n'));
        return text.toString();
    }

    private static void write(Path file, Map<String, long[]> keys) throws IOException {
        try (Writer out = new java.io.OutputStreamWriter(new GZIPOutputStream(Files.newOutputStream(file)),
                StandardCharsets.UTF_8)) {
            out.write(render(keys));
        }
    }
}
