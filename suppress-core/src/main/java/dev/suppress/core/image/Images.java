package dev.suppress.core.image;


import dev.suppress.core.tensor.Tensor;


import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Conversions between image tensors and {@link BufferedImage}s, PNG output, side-by-side grids and attention heat
 * maps.
 */
public final class Images {

    private Images() {
    }

    /**
     * Converts one decoded image to 8-bit RGB exactly as the reference's {@code ptp_utils.latent2image}:
     * {@code uint8(clamp(x / 2 + 0.5, 0, 1) * 255)}, computed in float32 and truncated, not rounded.
     *
     * @param image {@code [3, H, W]} (or {@code [1, 3, H, W]}) nominally in {@code [-1, 1]}; not modified
     */
    public static BufferedImage toImage(Tensor image) {
        int[] shape = image.shape();
        int offset = shape.length == 4 ? 1 : 0;
        if (shape.length - offset != 3 || shape[offset] != 3 || (offset == 1 && shape[0] != 1)) {
            throw new IllegalArgumentException("Expected an image tensor [3, H, W], got " + image);
        }
        int height = shape[offset + 1];
        int width = shape[offset + 2];
        int plane = height * width;
        float[] values = image.toArray();
        int[] rgb = new int[plane];
        for (int pixel = 0; pixel < plane; pixel++) {
            int red = toByte(values[pixel]);
            int green = toByte(values[plane + pixel]);
            int blue = toByte(values[2 * plane + pixel]);
            rgb[pixel] = (red << 16) | (green << 8) | blue;
        }
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, width, height, rgb, 0, width);
        return out;
    }

    private static int toByte(float value) {
        float scaled = value / 2f + 0.5f;
        scaled = Math.min(1f, Math.max(0f, scaled));
        return (int) (scaled * 255f);
    }

    /**
     * Converts an RGB image to the VAE's input range as the reference's {@code NullInversion.image2latent}:
     * {@code float(pixel) / 127.5 - 1}, channels first.
     *
     * @return {@code [1, 3, H, W]} in {@code [-1, 1]}
     */
    public static Tensor toTensor(BufferedImage image) {
        int width = image.getWidth();
        int height = image.getHeight();
        int plane = width * height;
        int[] rgb = image.getRGB(0, 0, width, height, null, 0, width);
        float[] out = new float[3 * plane];
        for (int pixel = 0; pixel < plane; pixel++) {
            int value = rgb[pixel];
            out[pixel] = ((value >> 16) & 0xFF) / 127.5f - 1f;
            out[plane + pixel] = ((value >> 8) & 0xFF) / 127.5f - 1f;
            out[2 * plane + pixel] = (value & 0xFF) / 127.5f - 1f;
        }
        return Tensor.wrapOwned(out, 1, 3, height, width);
    }

    /**
     * Places images left to right on white, separated by a gap of 2% of the first image's height, as the
     * reference's {@code view_images}.
     */
    public static BufferedImage sideBySide(List<BufferedImage> images) {
        if (images.isEmpty()) {
            throw new IllegalArgumentException("No images to place side by side");
        }
        int height = images.get(0).getHeight();
        int gap = (int) (height * 0.02);
        int width = 0;
        for (BufferedImage image : images) {
            width += image.getWidth();
            height = Math.max(height, image.getHeight());
        }
        width += gap * (images.size() - 1);
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D graphics = out.createGraphics();
        try {
            graphics.setColor(Color.WHITE);
            graphics.fillRect(0, 0, width, height);
            int x = 0;
            for (BufferedImage image : images) {
                graphics.drawImage(image, x, 0, null);
                x += image.getWidth() + gap;
            }
        } finally {
            graphics.dispose();
        }
        return out;
    }

    /**
     * Renders one token's attention map as a heat map with the token written under it.
     *
     * @param map   {@code [h, w]}, or any tensor of {@code res*res} values (a square), not modified; normalised by
     *              its maximum as the reference's {@code show_cross_attention} does
     * @param size  the longer side of the rendered map in pixels (its side for a square map)
     * @param label text under the map (the token), may be empty
     */
    public static BufferedImage heatMap(Tensor map, int size, String label) {
        int mapHeight;
        int mapWidth;
        if (map.rank() == 2) {
            mapHeight = map.dim(0);
            mapWidth = map.dim(1);
        } else {
            mapHeight = (int) Math.round(Math.sqrt(map.size()));
            mapWidth = mapHeight;
            if (mapHeight * mapWidth != map.size()) {
                throw new IllegalArgumentException("A heat map needs a [h, w] map or a square number of values, got "
                        + map);
            }
        }
        if (mapHeight < 1 || mapWidth < 1) {
            throw new IllegalArgumentException("A heat map needs a non-empty map, got " + map);
        }
        float[] values = map.toArray();
        float max = 0;
        for (float value : values) {
            max = Math.max(max, value);
        }
        int longer = Math.max(mapHeight, mapWidth);
        int width = Math.max(1, (int) Math.round((double) size * mapWidth / longer));
        int height = Math.max(1, (int) Math.round((double) size * mapHeight / longer));
        int labelHeight = label.isEmpty() ? 0 : Math.max(14, size / 6);
        BufferedImage out = new BufferedImage(width, height + labelHeight, BufferedImage.TYPE_INT_RGB);
        int[] rgb = new int[width * height];
        for (int y = 0; y < height; y++) {
            int sourceY = Math.min(mapHeight - 1, y * mapHeight / height);
            for (int x = 0; x < width; x++) {
                int sourceX = Math.min(mapWidth - 1, x * mapWidth / width);
                float level = max > 0 ? values[sourceY * mapWidth + sourceX] / max : 0f;
                rgb[y * width + x] = inferno(level);
            }
        }
        out.setRGB(0, 0, width, height, rgb, 0, width);
        if (labelHeight > 0) {
            Graphics2D graphics = out.createGraphics();
            try {
                graphics.setColor(Color.WHITE);
                graphics.fillRect(0, height, width, labelHeight);
                graphics.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING,
                        RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                graphics.setColor(Color.BLACK);
                graphics.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, Math.max(10, labelHeight * 2 / 3)));
                FontMetrics metrics = graphics.getFontMetrics();
                int textX = Math.max(0, (width - metrics.stringWidth(label)) / 2);
                graphics.drawString(label, textX, height + (labelHeight + metrics.getAscent()) / 2 - 2);
            } finally {
                graphics.dispose();
            }
        }
        return out;
    }

    /** A perceptually ordered black-red-yellow-white ramp (an approximation of matplotlib's inferno). */
    private static int inferno(float level) {
        float t = Math.min(1f, Math.max(0f, level));
        int red = (int) (255 * Math.min(1f, 1.6f * t));
        int green = (int) (255 * Math.min(1f, Math.max(0f, 1.6f * t - 0.55f)));
        int blue = (int) (255 * Math.max(Math.min(1f, 0.5f * t + 0.15f - 2.5f * Math.abs(t - 0.3f)),
                Math.max(0f, 3f * t - 2f)));
        return (red << 16) | (green << 8) | Math.max(0, blue);
    }

    /**
     * The reference's {@code load_512}: crop the centre square (offset {@code (long - short) / 2}) and resize it to
     * {@code size x size} with Pillow's default bicubic filter (within one level of Pillow).
     *
     * @param image not modified
     * @return a new {@code size x size} RGB image
     */
    public static BufferedImage centerCropAndResize(BufferedImage image, int size) {
        if (size < 1) {
            throw new IllegalArgumentException("size must be positive, got " + size);
        }
        int width = image.getWidth();
        int height = image.getHeight();
        int side = Math.min(width, height);
        int left = width > height ? (width - height) / 2 : 0;
        int top = height > width ? (height - width) / 2 : 0;
        int[] pixels = image.getRGB(left, top, side, side, null, 0, side);
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] &= 0xFFFFFF;
        }
        int[] resized = side == size ? pixels : BicubicResize.resize(pixels, side, side, size, size);
        BufferedImage out = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, size, size, resized, 0, size);
        return out;
    }

    /** Writes a PNG, creating parent folders. */
    public static void writePng(BufferedImage image, Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            if (!ImageIO.write(image, "png", file.toFile())) {
                throw new IOException("No PNG writer available");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot write " + file, e);
        }
    }

    /**
     * Reads a PNG or JPEG as RGB.
     *
     * @throws IllegalArgumentException when the file is not an image ImageIO can read
     */
    public static BufferedImage read(Path file) {
        ImageFiles.check(file);
        try {
            BufferedImage image = ImageIO.read(file.toFile());
            if (image == null) {
                throw new IllegalArgumentException("Not a readable image (PNG or JPEG expected): " + file);
            }
            if (image.getType() == BufferedImage.TYPE_INT_RGB) {
                return image;
            }
            // Drop alpha without compositing, as the reference's np.asarray(image)[:, :, :3] does.
            int width = image.getWidth();
            int height = image.getHeight();
            int[] pixels = image.getRGB(0, 0, width, height, null, 0, width);
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] &= 0xFFFFFF;
            }
            BufferedImage rgb = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
            rgb.setRGB(0, 0, width, height, pixels, 0, width);
            return rgb;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read image " + file, e);
        }
    }
}
