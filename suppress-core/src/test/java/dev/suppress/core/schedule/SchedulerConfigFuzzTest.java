package dev.suppress.core.schedule;

import dev.suppress.core.internal.schedule.DdimScheduler;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.suppress.core.io.ModelFormatException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzzes {@code scheduler_config.json}: reading it either works or throws {@link ModelFormatException}, and a
 * config that was accepted builds a DDIM schedule for 1, 7 and 50 steps whose timesteps lie in
 * {@code 0 .. num_train_timesteps-1} and whose cumulative alphas are finite and in (0, 1]. Seeds: the fixture
 * model's {@code scheduler/scheduler_config.json} and variants of it.
 */
class SchedulerConfigFuzzTest {

    private static final int[] STEP_COUNTS = {1, 7, 50};

    private static Path file;

    @BeforeAll
    static void createFile() throws IOException {
        file = Files.createTempFile("fuzz-", "-scheduler_config.json");
    }

    @AfterAll
    static void deleteFile() throws IOException {
        Files.deleteIfExists(file);
    }

    @FuzzTest
    @Timeout(10)
    void readAndBuildSchedule(byte[] json) throws IOException {
        Files.write(file, json);
        SchedulerConfig config;
        try {
            config = SchedulerConfig.read(file);
        } catch (ModelFormatException expected) {
            return;
        }
        for (int steps : STEP_COUNTS) {
            if (steps > config.numTrainTimesteps()) {
                continue;
            }
            DdimScheduler scheduler;
            try {
                scheduler = new DdimScheduler(config, steps);
            } catch (IllegalArgumentException refused) {
                continue;
            }
            for (int timestep : scheduler.timesteps()) {
                if (timestep < 0 || timestep >= config.numTrainTimesteps()) {
                    throw new AssertionError("timestep " + timestep + " outside 0.." + (config.numTrainTimesteps()
                            - 1) + " for " + steps + " steps of " + config);
                }
            }
        }
    }
}
