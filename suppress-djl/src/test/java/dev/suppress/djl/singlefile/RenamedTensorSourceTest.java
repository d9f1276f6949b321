package dev.suppress.djl.singlefile;

import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The view's slicing and transposition, against plain index arithmetic on a small OpenCLIP-shaped file. */
class RenamedTensorSourceTest {

    @TempDir
    Path dir;

    @Test
    void textProjectionIsTransposedAndInProjSplitIntoRowBlocks() {
        int hidden = 4;
        int projection = 3;
        String prefix = "conditioner.embedders.1.model.";
        float[] projectionValues = new float[hidden * projection];
        for (int i = 0; i < projectionValues.length; i++) {
            projectionValues[i] = i;
        }
        float[] inProj = new float[3 * hidden * hidden];
        for (int i = 0; i < inProj.length; i++) {
            inProj[i] = 100 + i;
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put(prefix + "text_projection", Tensor.of(projectionValues, hidden, projection));
        tensors.put(prefix + "transformer.resblocks.0.attn.in_proj_weight", Tensor.of(inProj, 3 * hidden, hidden));
        Path file = dir.resolve("clip.safetensors");
        SafetensorsWriter.write(file, tensors);
        try (SafetensorsFile safetensors = SafetensorsFile.open(file)) {
            Map<String, long[]> shapes = new LinkedHashMap<>();
            safetensors.infos().forEach((name, info) -> shapes.put(name, info.shape()));
            RenamedTensorSource view = new RenamedTensorSource(safetensors, "test",
                    LdmKeyMapping.openClip(file, shapes, prefix, 1, hidden, true));
            // OpenCLIP computes x @ P with P [hidden, projection]; a linear weight is W [projection, hidden] = Pᵀ
            assertArrayEquals(new long[]{projection, hidden}, view.info("text_projection.weight").shape());
            float[] weight = view.floats("text_projection.weight");
            for (int out = 0; out < projection; out++) {
                for (int in = 0; in < hidden; in++) {
                    assertEquals(projectionValues[in * projection + out], weight[out * hidden + in]);
                }
            }
            String[] names = {"q_proj", "k_proj", "v_proj"};
            for (int part = 0; part < 3; part++) {
                String key = "text_model.encoder.layers.0.self_attn." + names[part] + ".weight";
                assertArrayEquals(new long[]{hidden, hidden}, view.info(key).shape());
                float[] expected = new float[hidden * hidden];
                System.arraycopy(inProj, part * hidden * hidden, expected, 0, expected.length);
                assertArrayEquals(expected, view.floats(key), key);
                assertEquals(expected.length * 4L, view.rawBytes(key).remaining(), key);
            }
        }
    }
}
