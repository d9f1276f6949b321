package dev.suppress.djl.weights;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;

import java.nio.ByteBuffer;
import java.util.Locale;

/**
 * Drops a memory-mapped tensor's pages from the process once it has been copied: {@code madvise(MADV_DONTNEED)} over
 * the whole pages inside the buffer. Java 17 cannot unmap a buffer, and every page of a mapped weight file that
 * loading touched stays resident until the buffer is garbage collected: loading SD 1.5's F32 UNet into bfloat16
 * held the 3.4 GB of file pages beside the 1.7 GB of bfloat16 copies. The pages are the file's (a read-only
 * mapping), so dropping them loses nothing: a later read of the buffer faults them in again from the file. Where
 * there is no libc {@code madvise} (not Linux), nothing happens.
 */
final class MappedPages {

    private static final int MADV_DONTNEED = 4;
    private static final long PAGE = 4096;
    private static final boolean LINUX = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux");
    private static volatile Function madvise;
    private static volatile boolean unavailable = !LINUX;

    private MappedPages() {
    }

    /** Drops the resident pages that lie wholly inside {@code mapped} (a direct buffer over a mapped file). */
    static void release(ByteBuffer mapped) {
        if (unavailable || !mapped.isDirect()) {
            return;
        }
        Function advise = madvise;
        if (advise == null) {
            try {
                advise = NativeLibrary.getInstance("c").getFunction("madvise");
                madvise = advise;
            } catch (UnsatisfiedLinkError e) {
                unavailable = true;
                return;
            }
        }
        long start = Pointer.nativeValue(com.sun.jna.Native.getDirectBufferPointer(mapped));
        long first = (start + PAGE - 1) / PAGE * PAGE;
        long end = (start + mapped.capacity()) / PAGE * PAGE;
        if (end > first) {
            advise.invokeInt(new Object[] {new Pointer(first), end - first, MADV_DONTNEED});
        }
    }
}
