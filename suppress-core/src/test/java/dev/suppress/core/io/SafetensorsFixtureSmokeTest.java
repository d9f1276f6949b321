package dev.suppress.core.io;

import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class SafetensorsFixtureSmokeTest {

    @Test
    void readsTheGoldenSchedulerFile() {
        try (SafetensorsFile file = Fixtures.open("scheduler/ddim.safetensors")) {
            long[] timesteps = file.longs("timesteps");
            assertEquals(50, timesteps.length);
            assertEquals(981, timesteps[0]);
            assertEquals(1, timesteps[49]);
            assertArrayEquals(new int[] {1000}, file.tensor("betas").shape());
            assertEquals(0.00085f, file.tensor("betas").get(0), 1e-9f);
        }
    }

    @Test
    void readsAModelWeightFile() {
        try (SafetensorsFile file = SafetensorsFile.open(
                Fixtures.tinyModel().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            assertEquals(4, file.info("conv_in.weight").shape()[1]);
        }
    }
}
