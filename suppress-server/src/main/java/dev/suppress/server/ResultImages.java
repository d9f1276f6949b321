package dev.suppress.server;

import dev.suppress.core.ImageEditResult;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.TokenAttention;
import dev.suppress.core.image.Images;

import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * The images of a finished job, by the name the API gives them (the CLI's file names without {@code .png}): a
 * generation has {@code original-suppressed}, {@code original}, {@code suppressed} and {@code cross-attention}
 * ({@code suppressed} and {@code cross-attention} only, for a suppressed-only run); an edit has
 * {@code input-reconstruction-suppressed}, {@code input}, {@code reconstruction}, {@code suppressed},
 * {@code vae-reconstruction} and {@code cross-attention}.
 */
final class ResultImages {

    /** Side of one heat map in pixels, as the CLI's. */
    static final int HEAT_MAP_SIZE = 128;

    /** Marks the label of a suppressed (or strengthened) token in the heat maps, as the CLI does. */
    static final String SUPPRESSED_MARK = "*";

    static final String CROSS_ATTENTION = "cross-attention";

    private ResultImages() {
    }

    static LinkedHashMap<String, BufferedImage> generated(SuppressionResult result) {
        LinkedHashMap<String, BufferedImage> images = new LinkedHashMap<>();
        if (result.hasOriginal()) {
            images.put("original-suppressed", result.sideBySide());
            images.put("original", result.original());
        }
        images.put("suppressed", result.suppressed());
        images.put(CROSS_ATTENTION, crossAttention(result));
        return images;
    }

    static LinkedHashMap<String, BufferedImage> edited(ImageEditResult result) {
        LinkedHashMap<String, BufferedImage> images = new LinkedHashMap<>();
        images.put("input-reconstruction-suppressed", result.sideBySide());
        images.put("input", result.inputImage());
        images.put("reconstruction", result.reconstruction());
        images.put("suppressed", result.suppressed());
        images.put("vae-reconstruction", Images.toImage(result.vaeReconstruction()));
        images.put(CROSS_ATTENTION, crossAttention(result.suppression()));
        return images;
    }

    /**
     * One heat map per prompt token, labelled with the token ({@value #SUPPRESSED_MARK} after a suppressed one): the
     * original branch on the first row, the suppressed branch on the second (the CLI's {@code cross-attention.png}).
     */
    static BufferedImage crossAttention(SuppressionResult result) {
        TokenAttention attention = result.attention();
        List<BufferedImage> original = new ArrayList<>();
        List<BufferedImage> suppressed = new ArrayList<>();
        for (int index = 1; index <= attention.tokens().size(); index++) {
            String label = attention.tokens().get(index - 1).strip()
                    + (result.suppressedTokens().contains(index) ? SUPPRESSED_MARK : "");
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
}
