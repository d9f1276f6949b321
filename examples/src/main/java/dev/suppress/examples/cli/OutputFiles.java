package dev.suppress.examples.cli;

import dev.suppress.core.SuppressionResult;
import dev.suppress.core.TokenAttention;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.io.SafetensorsWriter;
import dev.suppress.core.tensor.Tensor;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Writes what a run produced: the images, the cross-attention heat maps and, on request, the final latents. */
final class OutputFiles {

    static final String SIDE_BY_SIDE = "original-suppressed.png";
    static final String ORIGINAL = "original.png";
    static final String SUPPRESSED = "suppressed.png";
    static final String CROSS_ATTENTION = "cross-attention.png";

    /** Side of one heat map in pixels. */
    static final int HEAT_MAP_SIZE = 128;

    /** Marks the label of a suppressed (or strengthened) token in the heat maps. */
    static final String SUPPRESSED_MARK = "*";

    private OutputFiles() {
    }

    /** The images of a generation: original | suppressed, then each alone (only the suppressed one without an original). */
    static LinkedHashMap<String, BufferedImage> generated(SuppressionResult result) {
        LinkedHashMap<String, BufferedImage> images = new LinkedHashMap<>();
        if (result.hasOriginal()) {
            images.put(SIDE_BY_SIDE, result.sideBySide());
            images.put(ORIGINAL, result.original());
        }
        images.put(SUPPRESSED, result.suppressed());
        return images;
    }

    /**
     * Writes the outcome's images, then the cross-attention heat maps, into {@code folder} (created if needed).
     *
     * @return the files written, the heat maps last
     */
    static List<Path> writeImages(SuppressCommand.Outcome outcome, Path folder) {
        List<Path> written = new ArrayList<>();
        for (Map.Entry<String, BufferedImage> image : outcome.images().entrySet()) {
            written.add(write(image.getValue(), folder.resolve(image.getKey())));
        }
        SuppressionResult result = outcome.result();
        written.add(write(crossAttention(result.attention(), result.suppressedTokens()),
                folder.resolve(CROSS_ATTENTION)));
        return written;
    }

    /**
     * Writes the final latents as safetensors: {@code original} and {@code suppressed}, each {@code [1, 4, h, w]}
     * F32, and an edit's inversion beside them ({@link SavedInversion}: the file is then an inversion file too).
     * The folder must exist.
     *
     * @param inversion the inversion an edit used, or {@code null}
     */
    static void writeLatents(SuppressionResult result, SavedInversion inversion, Path file) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        if (result.hasOriginal()) {
            tensors.put("original", result.originalLatent());
        }
        tensors.put("suppressed", result.suppressedLatent());
        if (inversion == null) {
            SafetensorsWriter.write(file, tensors);
        } else {
            inversion.write(file, tensors);
        }
    }

    /**
     * One heat map per prompt token, labelled with the token ({@value #SUPPRESSED_MARK} after a suppressed one): the
     * original branch on the first row, the suppressed branch on the second.
     *
     * @param suppressedTokens prompt-token indices ({@code 1 .. n-2}) to mark
     */
    static BufferedImage crossAttention(TokenAttention attention, List<Integer> suppressedTokens) {
        List<BufferedImage> original = new ArrayList<>();
        List<BufferedImage> suppressed = new ArrayList<>();
        for (int index = 1; index <= attention.tokens().size(); index++) {
            String label = attention.tokens().get(index - 1).strip()
                    + (suppressedTokens.contains(index) ? SUPPRESSED_MARK : "");
            original.add(Images.heatMap(attention.map(index, false), HEAT_MAP_SIZE, label));
            suppressed.add(Images.heatMap(attention.map(index, true), HEAT_MAP_SIZE, label));
        }
        return stack(Images.sideBySide(original), Images.sideBySide(suppressed));
    }

    /** {@code top} above {@code bottom} on white, with the same gap as {@link Images#sideBySide}. */
    private static BufferedImage stack(BufferedImage top, BufferedImage bottom) {
        int gap = (int) (top.getHeight() * 0.02);
        int width = Math.max(top.getWidth(), bottom.getWidth());
        int height = top.getHeight() + gap + bottom.getHeight();
        BufferedImage out = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D graphics = out.createGraphics();
        try {
            graphics.setColor(Color.WHITE);
            graphics.fillRect(0, 0, width, height);
            graphics.drawImage(top, 0, 0, null);
            graphics.drawImage(bottom, 0, top.getHeight() + gap, null);
        } finally {
            graphics.dispose();
        }
        return out;
    }

    private static Path write(BufferedImage image, Path file) {
        Images.writePng(image, file);
        return file;
    }
}
