package dev.suppress.djl.clip;

import dev.suppress.djl.weights.ConfigJson;

/**
 * The fields of {@code text_encoder/config.json} that shape transformers' {@code CLIPTextModel}, with the
 * {@code CLIPTextConfig} defaults for absent ones.
 *
 * @param vocabSize             token embedding rows (49408)
 * @param hiddenSize            embedding width M (768 for SD 1.x, 1024 for SD 2.x)
 * @param intermediateSize      MLP width
 * @param numHiddenLayers       encoder layers
 * @param numAttentionHeads     heads per layer
 * @param maxPositionEmbeddings positions (77)
 * @param layerNormEps          layer norm epsilon
 * @param hiddenAct             the MLP activation
 * @param projectionDim         the output width of {@code text_projection} for a
 *                              {@code CLIPTextModelWithProjection} (named in {@code architectures}; SDXL's
 *                              {@code text_encoder_2}: 1280), 0 for a plain {@code CLIPTextModel}
 * @param eosTokenId            {@code eos_token_id}, which decides where the pooled output is taken: 2 (the legacy
 *                              value, SDXL's configs) means at the largest token id, any other value at its first
 *                              occurrence
 */
record ClipTextConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers,
                      int numAttentionHeads, int maxPositionEmbeddings, double layerNormEps,
                      HiddenAct hiddenAct, int projectionDim, int eosTokenId) {

    /** The {@code architectures} entry of a text encoder with {@code text_projection}. */
    static final String WITH_PROJECTION = "CLIPTextModelWithProjection";

    /** transformers' {@code CLIPTextConfig} default {@code eos_token_id} (the [EOT] id of CLIP's vocabulary). */
    static final int DEFAULT_EOS_TOKEN_ID = 49407;

    /** transformers' {@code eos_token_id} before its PR #24773, kept as "pool at the argmax of the ids". */
    static final int LEGACY_EOS_TOKEN_ID = 2;

    /** The activations SD text encoders use: {@code quick_gelu} (OpenAI CLIP, SD 1.x), {@code gelu} (OpenCLIP, SD 2.x). */
    enum HiddenAct {
        QUICK_GELU, GELU
    }

    static ClipTextConfig read(ConfigJson json) {
        int hiddenSize = json.dimension("hidden_size", 512);
        int heads = json.dimension("num_attention_heads", 8);
        String act = json.stringValue("hidden_act", "quick_gelu");
        HiddenAct hiddenAct = switch (act) {
            case "quick_gelu" -> HiddenAct.QUICK_GELU;
            case "gelu" -> HiddenAct.GELU;
            default -> throw json.error("Unsupported hidden_act '" + act + "': expected quick_gelu (SD 1.x) or gelu "
                    + "(SD 2.x)");
        };
        if (heads < 1 || hiddenSize % heads != 0) {
            throw json.error("hidden_size " + hiddenSize + " is not a multiple of num_attention_heads " + heads);
        }
        boolean withProjection = json.stringList("architectures", java.util.List.of()).contains(WITH_PROJECTION);
        // transformers' CLIPTextConfig default projection_dim is 512
        int projectionDim = withProjection ? json.dimension("projection_dim", 512) : 0;
        ClipTextConfig config = new ClipTextConfig(json.dimension("vocab_size", 49408), hiddenSize,
                json.dimension("intermediate_size", 2048), json.dimension("num_hidden_layers", 12), heads,
                json.dimension("max_position_embeddings", 77), json.doubleValue("layer_norm_eps", 1e-5), hiddenAct,
                projectionDim, json.intValue("eos_token_id", DEFAULT_EOS_TOKEN_ID));
        if (config.vocabSize < 1 || config.intermediateSize < 1 || config.numHiddenLayers < 1
                || config.maxPositionEmbeddings < 1) {
            throw json.error("Invalid CLIP text configuration " + config);
        }
        return config;
    }

    /** Width of one head. */
    int headDim() {
        return hiddenSize / numAttentionHeads;
    }
}
