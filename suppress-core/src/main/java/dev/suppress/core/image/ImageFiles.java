package dev.suppress.core.image;

import dev.suppress.core.validation.MemoryBudget;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;

/** Checks an image file from its header before it is decoded. */
public final class ImageFiles {

    /** The largest photo accepted, in pixels (a 64-megapixel image already takes about 1 GiB as float RGB). */
    public static final long MAX_IMAGE_PIXELS = 64L << 20;

    private ImageFiles() {
    }

    /**
     * Checks an image file before decoding it: that an ImageIO reader recognises it, and that its header's size
     * is at most {@link #MAX_IMAGE_PIXELS} and fits the heap as float RGB.
     *
     * @throws IllegalArgumentException naming the file: not an image, or too large
     */
    public static void check(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("Image file does not exist or is not a file: " + file);
        }
        try (ImageInputStream input = ImageIO.createImageInputStream(file.toFile())) {
            Iterator<ImageReader> readers = input == null ? null : ImageIO.getImageReaders(input);
            if (readers == null || !readers.hasNext()) {
                throw new IllegalArgumentException("Not a readable image (PNG or JPEG expected): " + file);
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(input, true, true);
                long width = reader.getWidth(0);
                long height = reader.getHeight(0);
                if (width * height > MAX_IMAGE_PIXELS) {
                    throw new IllegalArgumentException("Image " + file + " is " + width + "x" + height + " ("
                            + width * height / 1_000_000 + " megapixels), more than the " + MAX_IMAGE_PIXELS
                            / 1_000_000 + " megapixels accepted; resize it first (it is resized to the model's "
                            + "size anyway)");
                }
                // decoded ARGB, an RGB copy and float RGB: 4 + 4 + 12 bytes per pixel
                MemoryBudget.requireHeap("Reading " + file, width * height * 20, width + "x" + height
                        + " px at 20 bytes per pixel");
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("Not a readable image (" + e.getMessage() + "): " + file, e);
        }
    }
}
