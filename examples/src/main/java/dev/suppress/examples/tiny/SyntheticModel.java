package dev.suppress.examples.tiny;

import dev.suppress.djl.clip.DjlTextEncoder;
import dev.suppress.djl.unet.DjlDenoiser;
import dev.suppress.djl.vae.DjlLatentDecoder;
import dev.suppress.djl.vae.DjlLatentEncoder;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A full-size Stable Diffusion folder with seeded random weights, so that real-size memory and speed can be measured
 * (and a user can size a machine) without downloading a checkpoint: {@code suppress make-model --arch sd15}.
 *
 * <p>The configuration files are the published ones, unchanged: {@code runwayml/stable-diffusion-v1-5} for
 * {@link Arch#SD15} (859.5M-parameter UNet, 123M CLIP ViT-L/14 text encoder, 83.7M VAE) and
 * {@code stabilityai/stable-diffusion-2-1-base} for {@link Arch#SD21} (512², epsilon prediction, OpenCLIP ViT-H text
 * encoder of 23 layers, linear projections in the transformers), and {@code stabilityai/stable-diffusion-xl-base-1.0}
 * for {@link Arch#SDXL} (2.57B-parameter UNet with {@code text_time} conditioning, CLIP ViT-L/14 and OpenCLIP
 * ViT-bigG/14 with projection, the VAE with {@code scaling_factor} 0.13025 and {@code force_upcast}; its scheduler
 * file says {@code EulerDiscreteScheduler}, whose numbers the DDIM sampler reads). The tokenizer is OpenAI CLIP's, as
 * all three ship (SDXL's {@code tokenizer_2} pads with "!"). The
 * parameter names and shapes are whatever the DJL backend's model code asks for given these configurations, which
 * are the checkpoints' names, so loading such a folder runs exactly the code paths of the real model.
 *
 * <p>Weights follow {@link RandomWeights} (PyTorch's default initialisation scale, norms 1, biases 0), which keeps
 * activations at unit scale through every residual block, so the 50-step sampler stays finite. Each tensor is
 * generated and written on its own ({@link StreamingSafetensorsWriter}): memory stays at one tensor. The folder is
 * written into a temporary sibling and renamed when complete.
 */
public final class SyntheticModel {

    /** Seeds every weight (the tiny model's seed). */
    static final long SEED = TinyModel.SEED;

    /** The architectures whose configuration files are bundled. */
    public enum Arch {
        /** Stable Diffusion 1.5. */
        SD15("sd15"),
        /** Stable Diffusion 2.1 base (512²). */
        SD21("sd21"),
        /**
         * SDXL base 1.0 (1024²): two text encoders and tokenizers, the configurations the library ships for SDXL
         * single files.
         */
        SDXL(SDXL_CONFIGS);

        final String resources;

        Arch(String resources) {
            this.resources = resources;
        }
    }

    /** The element type of the main weight files. */
    public enum WeightType {
        F32, F16, BF16
    }

    /** SDXL base's configuration files, as {@code suppress-djl} ships them for single files. */
    static final String SDXL_CONFIGS = "/dev/suppress/djl/singlefile/sdxl";

    /** Files of an SDXL configuration folder, all its own (no shared files). */
    private static final List<String> SDXL_FILES = List.of(
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "text_encoder_2/config.json",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer_2/special_tokens_map.json",
            "tokenizer_2/tokenizer_config.json",
            "unet/config.json",
            "vae/config.json");

    /** Files copied from the tiny model (not architecture-specific). */
    private static final List<String> SHARED_FILES = List.of(
            "model/model_index.json",
            "model/tokenizer/special_tokens_map.json",
            "model/tokenizer/tokenizer_config.json");

    /** Files of each architecture's resource folder. */
    private static final List<String> ARCH_FILES = List.of(
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            "unet/config.json",
            "vae/config.json");

    private SyntheticModel() {
    }

    /** The default folder: {@code cacheRoot/<arch>-<type>-random-v1}. */
    public static Path defaultFolder(Path cacheRoot, Arch arch, WeightType type) {
        return cacheRoot.resolve(arch.name().toLowerCase(Locale.ROOT) + "-" + type.name().toLowerCase(Locale.ROOT)
                + "-random-v1");
    }

    /**
     * Writes the model into {@code folder}, unless a complete one is there already.
     *
     * @param fp16Variant also write {@code .fp16} variant files (F16) next to the main ones, as half-precision
     *                    downloads carry
     * @param progress    told each file as it is written
     * @return the folder
     * @throws UncheckedIOException when the folder cannot be written
     * @throws IllegalArgumentException when {@code folder} exists and is not a model this wrote
     */
    public static Path ensure(Path folder, Arch arch, WeightType type, boolean fp16Variant,
                              java.util.function.Consumer<String> progress) {
        return ensure(folder, arch.resources, type, fp16Variant, progress);
    }

    /** As the public {@code ensure}, with the architecture's configuration files from resource folder {@code configs}. */
    static Path ensure(Path folder, String configs, WeightType type, boolean fp16Variant,
                       java.util.function.Consumer<String> progress) {
        Path absolute = folder.toAbsolutePath();
        if (TinyModel.isComplete(absolute)) {
            return absolute;
        }
        if (Files.exists(absolute) && !isEmptyDirectory(absolute)) {
            throw new IllegalArgumentException("--out " + folder + " exists and is not a complete generated model; "
                    + "choose another folder or remove it");
        }
        Path parent = absolute.getParent();
        Path staging = null;
        try {
            Files.createDirectories(parent);
            staging = Files.createTempDirectory(parent, absolute.getFileName() + ".partial-");
            write(staging, configs, type, fp16Variant, progress);
            Files.writeString(staging.resolve(TinyModel.COMPLETE_MARKER), configs + " " + type + "\n");
            Files.deleteIfExists(absolute);
            try {
                Files.move(staging, absolute, StandardCopyOption.ATOMIC_MOVE);
                staging = null;
            } catch (FileAlreadyExistsException | DirectoryNotEmptyException e) {
                if (!TinyModel.isComplete(absolute)) {
                    throw e;
                }
            }
            return absolute;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write the model to " + folder, e);
        } finally {
            if (staging != null) {
                deleteQuietly(staging);
            }
        }
    }

    private static void write(Path folder, String configs, WeightType type, boolean fp16Variant,
                              java.util.function.Consumer<String> progress) throws IOException {
        // an SDXL configuration folder has a second text encoder, and its own model index and tokenizer files
        boolean sdxl = SyntheticModel.class.getResource(configs + "/text_encoder_2/config.json") != null;
        if (sdxl) {
            for (String file : SDXL_FILES) {
                copyResource(configs + "/" + file, folder.resolve(file));
            }
        } else {
            for (String file : SHARED_FILES) {
                copyResource(file, folder.resolve(file.substring("model/".length())));
            }
            for (String file : ARCH_FILES) {
                copyResource(configs + "/" + file, folder.resolve(file));
            }
        }
        Files.writeString(folder.resolve("README.md"), """
                # Random-weight Stable Diffusion (generated by `suppress make-model`)

                The published configuration files of the model, with SEEDED RANDOM weights: it draws noise. It exists to
                measure speed and memory at real size. The tokenizer is OpenAI CLIP's (MIT, see tokenizer/).
                """);
        byte[] merges = ClipVocabulary.mergesFile();
        String vocab = ClipVocabulary.vocabJson(ClipVocabulary.tokens(merges));
        for (String name : sdxl ? List.of("tokenizer", "tokenizer_2") : List.of("tokenizer")) {
            Path tokenizer = folder.resolve(name);
            Files.write(tokenizer.resolve("merges.txt"), merges);
            Files.writeString(tokenizer.resolve("vocab.json"), vocab, StandardCharsets.UTF_8);
            copyResource(ClipVocabulary.LICENSE_RESOURCE, tokenizer.resolve(ClipVocabulary.LICENSE_RESOURCE));
        }

        Path textEncoder = folder.resolve("text_encoder");
        Path unet = folder.resolve("unet");
        Path vae = folder.resolve("vae");
        Map<String, long[]> vaeShapes = new LinkedHashMap<>(DjlLatentEncoder.parameterShapes(vae));
        vaeShapes.putAll(DjlLatentDecoder.parameterShapes(vae));
        Map<Path, Map<String, long[]>> parts = new LinkedHashMap<>();
        parts.put(textEncoder.resolve("model"), DjlTextEncoder.parameterShapes(textEncoder));
        if (sdxl) {
            Path textEncoder2 = folder.resolve("text_encoder_2");
            parts.put(textEncoder2.resolve("model"), DjlTextEncoder.parameterShapes(textEncoder2));
        }
        parts.put(unet.resolve("diffusion_pytorch_model"), DjlDenoiser.parameterShapes(unet));
        parts.put(vae.resolve("diffusion_pytorch_model"), vaeShapes);
        StreamingSafetensorsWriter.Dtype main = StreamingSafetensorsWriter.Dtype.valueOf(type.name());
        for (Map.Entry<Path, Map<String, long[]>> part : parts.entrySet()) {
            Path file = Path.of(part.getKey() + ".safetensors");
            long bytes = StreamingSafetensorsWriter.write(file, part.getValue(), main, SEED);
            progress.accept(String.format(Locale.ROOT, "%s (%s, %.1f MB)", folder.relativize(file), main,
                    bytes / 1e6));
            if (fp16Variant) {
                Path variant = Path.of(part.getKey() + ".fp16.safetensors");
                bytes = StreamingSafetensorsWriter.write(variant, part.getValue(),
                        StreamingSafetensorsWriter.Dtype.F16, SEED);
                progress.accept(String.format(Locale.ROOT, "%s (F16, %.1f MB)", folder.relativize(variant),
                        bytes / 1e6));
            }
        }
    }

    private static boolean isEmptyDirectory(Path folder) {
        if (!Files.isDirectory(folder)) {
            return false;
        }
        try (Stream<Path> entries = Files.list(folder)) {
            return entries.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    private static void copyResource(String resource, Path target) throws IOException {
        try (InputStream in = SyntheticModel.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("Resource " + resource + " of " + SyntheticModel.class.getPackageName()
                        + " is missing from the class path");
            }
            Files.createDirectories(target.getParent());
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static void deleteQuietly(Path folder) {
        try (Stream<Path> paths = Files.walk(folder)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        } catch (IOException | UncheckedIOException ignored) {
            // a leftover staging folder is harmless: its name never matches the model's
        }
    }
}
