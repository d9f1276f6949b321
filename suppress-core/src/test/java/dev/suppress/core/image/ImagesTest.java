package dev.suppress.core.image;

import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImagesTest {

    @TempDir
    Path dir;

    /**
     * resize_*.png were made once with Pillow 11.3 from resize_in.png (53x41 random pixels):
     * {@code im.crop(((w-h)//2, 0, (w-h)//2+h, h)).resize((16, 16))} and {@code ((64, 64))}. Pillow resamples in
     * fixed point, so one level of difference is allowed.
     */
    @Test
    void cropsAndResizesLikePillow() throws IOException {
        BufferedImage input = resource("resize_in.png");
        for (String name : List.of("resize_down.png", "resize_up.png")) {
            BufferedImage expected = resource(name);
            BufferedImage actual = Images.centerCropAndResize(input, expected.getWidth());
            int maxDiff = 0;
            for (int y = 0; y < expected.getHeight(); y++) {
                for (int x = 0; x < expected.getWidth(); x++) {
                    for (int shift = 0; shift <= 16; shift += 8) {
                        maxDiff = Math.max(maxDiff, Math.abs(((expected.getRGB(x, y) >> shift) & 0xFF)
                                - ((actual.getRGB(x, y) >> shift) & 0xFF)));
                    }
                }
            }
            assertTrue(maxDiff <= 1, name + ": a channel differs from Pillow's by " + maxDiff + " levels");
        }
    }

    @Test
    void squareImageOfTheRightSizeIsUnchanged() {
        BufferedImage photo = Images.read(Fixtures.path("real/input.png"));
        BufferedImage same = Images.centerCropAndResize(photo, 256);
        for (int y = 0; y < 256; y += 7) {
            for (int x = 0; x < 256; x += 5) {
                assertEquals(photo.getRGB(x, y) & 0xFFFFFF, same.getRGB(x, y) & 0xFFFFFF);
            }
        }
    }

    @Test
    void tensorRoundTripMatchesTheReferenceScaling() {
        BufferedImage photo = Images.read(Fixtures.path("real/input.png"));
        Tensor tensor = Images.toTensor(photo);
        assertEquals(List.of(1, 3, 256, 256), java.util.Arrays.stream(tensor.shape()).boxed().toList());
        int rgb = photo.getRGB(10, 20);
        assertEquals(((rgb >> 16) & 0xFF) / 127.5f - 1f, tensor.get(20 * 256 + 10));
        BufferedImage back = Images.toImage(tensor);
        // (v/127.5 - 1)/2 + 0.5 = v/255 exactly in float for most v; truncation may lose one level
        int diff = Math.abs((back.getRGB(10, 20) & 0xFF) - (rgb & 0xFF));
        assertTrue(diff <= 1, "round trip changed blue by " + diff);
    }

    @Test
    void toImageTruncatesAsTheReference() {
        // (x/2 + 0.5) * 255 truncated: 0.999 -> 254.87 -> 254; clamped outside [-1, 1]
        Tensor image = Tensor.of(new float[] {0.999f, -2f, 5f}, 3, 1, 1);
        int rgb = Images.toImage(image).getRGB(0, 0);
        assertEquals(254, (rgb >> 16) & 0xFF);
        assertEquals(0, (rgb >> 8) & 0xFF);
        assertEquals(255, rgb & 0xFF);
    }

    @Test
    void writesAndReadsPng() {
        BufferedImage grid = Images.sideBySide(List.of(new BufferedImage(10, 10, BufferedImage.TYPE_INT_RGB),
                Images.heatMap(Tensor.of(new float[] {0, 1, 2, 3}, 2, 2), 20, "glasses")));
        Path file = dir.resolve("nested/grid.png");
        Images.writePng(grid, file);
        assertEquals(grid.getWidth(), Images.read(file).getWidth());
        assertThrows(IllegalArgumentException.class, () -> Images.read(Fixtures.path("MANIFEST.md")));
        assertThrows(IllegalArgumentException.class, () -> Images.toImage(Tensor.zeros(4, 2, 2)));
    }

    @Test
    void aRectangularHeatMapKeepsItsAspectAndOrientation() {
        // [2, 4]: two rows, four columns; only the top-right cell is hot
        Tensor map = Tensor.of(new float[] {0, 0, 0, 1, 0, 0, 0, 0}, 2, 4);
        BufferedImage wide = Images.heatMap(map, 40, "");
        assertEquals(40, wide.getWidth());
        assertEquals(20, wide.getHeight());
        assertTrue(brightness(wide.getRGB(39, 0)) > brightness(wide.getRGB(0, 0)), "top right is the hot cell");
        assertTrue(brightness(wide.getRGB(39, 0)) > brightness(wide.getRGB(39, 19)), "bottom right is cold");
        BufferedImage tall = Images.heatMap(Tensor.of(map.toArray(), 4, 2), 40, "glasses");
        assertEquals(20, tall.getWidth());
        assertTrue(tall.getHeight() > 40, "the label goes under the 40 px map");
        BufferedImage square = Images.heatMap(Tensor.of(new float[] {0, 1, 2, 3}, 4), 20, "");
        assertEquals(20, square.getWidth());
        assertEquals(20, square.getHeight());
        assertThrows(IllegalArgumentException.class, () -> Images.heatMap(Tensor.zeros(8), 20, ""));
    }

    private static int brightness(int rgb) {
        return ((rgb >> 16) & 0xFF) + ((rgb >> 8) & 0xFF) + (rgb & 0xFF);
    }

    private static BufferedImage resource(String name) throws IOException {
        try (InputStream in = ImagesTest.class.getResourceAsStream(name)) {
            return ImageIO.read(in);
        }
    }
}
