package dev.suppress.djl.unet;

import dev.suppress.core.validation.MemoryBudget;

/**
 * How many samples of a UNet batch one pass takes on a CPU, so that a batch whose activations would not fit in the
 * memory the machine has free runs in equal smaller passes instead of failing (issue 12: "the UNet batch is split
 * when it would not fit"). Reference mode's steps are batch 4 (two branches times guidance).
 *
 * <p>The estimate is {@value #TOP_LEVEL_ARRAYS} float32 arrays of the top level ({@code block_out_channels[0]}
 * channels at the latent's size) per sample, plus a fixed {@value #RESERVE_MIB} MiB for the sliced attention
 * probabilities and the runtime: at SD 1.5's 512 px that is 168 MB per sample, against 125-185 MiB per sample
 * measured (a batch-4 step's peak 800 MiB above the memory before it in fp32, 475 MiB in bf16, whose activations
 * stay float32 too). Passes of any size give the same noise up to float rounding (the kernels may sum in another
 * order for another batch); the split happens only when memory is short, so results on a machine with room are
 * unchanged.
 */
final class UNetBatchSplit {

    /** Overrides the free memory the split assumes, in bytes (tests; a user who wants smaller passes). */
    static final String AVAILABLE_PROPERTY = "suppress.unetAvailableBytes";

    static final int TOP_LEVEL_ARRAYS = 32;
    static final int RESERVE_MIB = 512;

    private UNetBatchSplit() {
    }

    /** Bytes one sample's pass is estimated to need for a latent {@code height x width}. */
    static long bytesPerSample(int firstChannels, int height, int width) {
        return (long) TOP_LEVEL_ARRAYS * firstChannels * height * width * Float.BYTES;
    }

    /** The free memory the split compares with: {@value #AVAILABLE_PROPERTY}, else the machine's MemAvailable. */
    static long availableBytes() {
        String override = System.getProperty(AVAILABLE_PROPERTY);
        if (override != null) {
            try {
                return Long.parseLong(override.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("-D" + AVAILABLE_PROPERTY + " must be a number of bytes, got '"
                        + override + "'", e);
            }
        }
        return MemoryBudget.availableNativeBytes();
    }

    /**
     * Samples per pass: the whole batch when it fits, else the batch in the fewest equal passes that fit (the last
     * may be smaller), at least one sample each.
     */
    static int samplesPerPass(int batch, long bytesPerSample, long availableBytes) {
        long room = availableBytes - ((long) RESERVE_MIB << 20);
        long fitting = bytesPerSample <= 0 ? batch : Math.max(1, room / bytesPerSample);
        if (fitting >= batch) {
            return batch;
        }
        int passes = (int) ((batch + fitting - 1) / fitting);
        return (batch + passes - 1) / passes;
    }
}
