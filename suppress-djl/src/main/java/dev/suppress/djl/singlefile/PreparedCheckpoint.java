package dev.suppress.djl.singlefile;

import com.fasterxml.jackson.databind.JsonNode;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;
import dev.suppress.djl.weights.ConfigJson;
import dev.suppress.djl.weights.PartSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A folder written by {@link SingleFileCheckpoint#prepare()}, opened for loading: the checkpoint it names, mapped
 * once, and one renaming view per model part ({@link RenamedTensorSource}) paired with the part's configuration.
 * Closing it unmaps the checkpoint; the parts loaded from it keep their own copies of the weights.
 */
public final class PreparedCheckpoint implements AutoCloseable {

    private final Path folder;
    private final SafetensorsFile file;
    private final Map<String, long[]> shapes;
    private final String textEncoder;

    private PreparedCheckpoint(Path folder, SafetensorsFile file, String textEncoder) {
        this.folder = folder;
        this.file = file;
        this.textEncoder = textEncoder;
        Map<String, long[]> all = new LinkedHashMap<>();
        for (TensorInfo info : file.infos().values()) {
            all.put(info.name(), info.shape());
        }
        this.shapes = all;
    }

    /**
     * Opens the checkpoint that {@code folder/}{@value SingleFileCheckpoint#DESCRIPTOR} names.
     *
     * @throws ModelFormatException when the descriptor is malformed, or the checkpoint is missing or has changed
     *                              since the folder was prepared (its size or modification time differ)
     */
    public static PreparedCheckpoint open(Path folder) {
        Path descriptorFile = folder.resolve(SingleFileCheckpoint.DESCRIPTOR);
        JsonNode descriptor = SingleFileCheckpoint.readJson(descriptorFile);
        JsonNode checkpointNode = descriptor.get("checkpoint");
        JsonNode textEncoderNode = descriptor.get("text_encoder");
        if (checkpointNode == null || !checkpointNode.isTextual() || textEncoderNode == null
                || !List.of(SingleFileCheckpoint.TEXT_ENCODER_CLIP, SingleFileCheckpoint.TEXT_ENCODER_OPEN_CLIP,
                SingleFileCheckpoint.TEXT_ENCODERS_SDXL).contains(textEncoderNode.asText())) {
            throw new ModelFormatException(descriptorFile, "Needs 'checkpoint' (a path) and 'text_encoder' (clip, "
                    + "open_clip or sdxl)");
        }
        Path checkpoint = Path.of(checkpointNode.asText());
        if (!Files.isRegularFile(checkpoint)) {
            throw new ModelFormatException(descriptorFile, "The checkpoint " + checkpoint + " it names is gone");
        }
        try {
            long size = Files.size(checkpoint);
            long modified = Files.getLastModifiedTime(checkpoint).toMillis();
            if (size != descriptor.path("size").asLong(-1) || modified != descriptor.path("modified").asLong(-1)) {
                throw new ModelFormatException(descriptorFile, "The checkpoint " + checkpoint + " has changed since "
                        + "this folder was prepared (size or modification time); inspect and prepare it again");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + checkpoint, e);
        }
        SingleFileCheckpoint.refusePickle(checkpoint);
        return new PreparedCheckpoint(folder, SafetensorsFile.open(checkpoint), textEncoderNode.asText());
    }

    /** The checkpoint file. */
    public Path checkpoint() {
        return file.path();
    }

    /**
     * The (first) text encoder: {@code convert_ldm_clip_checkpoint} (SD 1.x, and SDXL's CLIP ViT-L under
     * {@code conditioner.embedders.0.transformer.}) or {@code convert_open_clip_checkpoint} (SD 2.x).
     */
    public PartSource textEncoder() {
        Path configFolder = folder.resolve("text_encoder");
        LdmKeyMapping.PartMapping mapping;
        String name;
        if (textEncoder.equals(SingleFileCheckpoint.TEXT_ENCODER_CLIP)) {
            mapping = LdmKeyMapping.clip(file.path(), shapes, LdmKeyMapping.CLIP_PREFIX);
            name = "text encoder under " + LdmKeyMapping.CLIP_PREFIX;
        } else if (textEncoder.equals(SingleFileCheckpoint.TEXT_ENCODERS_SDXL)) {
            mapping = LdmKeyMapping.clip(file.path(), shapes, LdmKeyMapping.SDXL_CLIP_PREFIX);
            name = "text encoder under " + LdmKeyMapping.SDXL_CLIP_PREFIX;
        } else {
            ConfigJson config = ConfigJson.read(configFolder);
            mapping = LdmKeyMapping.openClip(file.path(), shapes, LdmKeyMapping.OPEN_CLIP_PREFIX,
                    config.intValue("num_hidden_layers", 12), config.intValue("hidden_size", 512), false);
            name = "OpenCLIP text encoder under " + LdmKeyMapping.OPEN_CLIP_PREFIX;
        }
        return view(configFolder, name, mapping);
    }

    /**
     * SDXL's {@code text_encoder_2}: {@code convert_open_clip_checkpoint} on the OpenCLIP bigG tower under
     * {@code conditioner.embedders.1.model.}, with its projection and every layer; empty for SD 1.x/2.x.
     */
    public Optional<PartSource> secondTextEncoder() {
        if (!textEncoder.equals(SingleFileCheckpoint.TEXT_ENCODERS_SDXL)) {
            return Optional.empty();
        }
        Path configFolder = folder.resolve("text_encoder_2");
        ConfigJson config = ConfigJson.read(configFolder);
        LdmKeyMapping.PartMapping mapping = LdmKeyMapping.openClip(file.path(), shapes,
                LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX, config.intValue("num_hidden_layers", 32),
                config.intValue("hidden_size", 1280), true);
        return Optional.of(view(configFolder, "OpenCLIP text encoder under " + LdmKeyMapping.SDXL_OPEN_CLIP_PREFIX,
                mapping));
    }

    /** The UNet: {@code convert_ldm_unet_checkpoint}. */
    public PartSource unet() {
        Path configFolder = folder.resolve("unet");
        ConfigJson config = ConfigJson.read(configFolder);
        int levels = config.stringList("down_block_types", List.of("", "", "", "")).size();
        List<Integer> layers = config.intPerBlock("layers_per_block", levels, 2);
        if (layers.stream().distinct().count() != 1) {
            throw config.error("layers_per_block " + layers + ": the LDM layout has one value for every block");
        }
        return view(configFolder, "UNet under " + LdmKeyMapping.UNET_PREFIX,
                LdmKeyMapping.unet(file.path(), shapes, layers.get(0)));
    }

    /** The VAE: {@code convert_ldm_vae_checkpoint}. */
    public PartSource vae() {
        Path configFolder = folder.resolve("vae");
        ConfigJson config = ConfigJson.read(configFolder);
        String prefix = LdmKeyMapping.vaePrefix(shapes);
        return view(configFolder, "VAE under " + (prefix == null ? LdmKeyMapping.VAE_PREFIXES.get(0) : prefix),
                LdmKeyMapping.vae(file.path(), shapes, config.intList("block_out_channels").size()));
    }

    private PartSource view(Path configFolder, String name, LdmKeyMapping.PartMapping mapping) {
        return PartSource.of(configFolder, () -> new RenamedTensorSource(file, name, mapping));
    }

    /** Unmaps the checkpoint. */
    @Override
    public void close() {
        file.close();
    }
}
