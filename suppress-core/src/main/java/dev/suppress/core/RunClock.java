package dev.suppress.core;

import java.time.Duration;

/** Wall time per phase of a run; the ITO time is taken out of the denoising time. */
final class RunClock {
    private final long started = System.nanoTime();
    private long last = started;
    Duration textEncoding = Duration.ZERO;
    Duration inversion = Duration.ZERO;
    Duration decoding = Duration.ZERO;
    long itoNanos;
    long denoisingNanos;

    Duration lap() {
        long now = System.nanoTime();
        Duration lap = Duration.ofNanos(now - last);
        last = now;
        return lap;
    }

    Duration total() {
        return Duration.ofNanos(System.nanoTime() - started);
    }

    SuppressionResult.PhaseTimes phases() {
        return new SuppressionResult.PhaseTimes(textEncoding, inversion, Duration.ofNanos(denoisingNanos),
                Duration.ofNanos(itoNanos), decoding);
    }
}
