package dev.suppress.benchmarks;

import java.awt.image.BufferedImage;

/**
 * How far two 8-bit RGB images of the same size differ, per channel value.
 *
 * @param max           the largest |difference| in levels (0 .. 255)
 * @param mean          the mean |difference| over every channel value
 * @param differingShare the share of channel values that differ at all
 */
record ImageDifference(int max, double mean, double differingShare) {

    /**
     * @throws IllegalArgumentException when the sizes differ
     */
    static ImageDifference of(BufferedImage a, BufferedImage b) {
        int width = a.getWidth();
        int height = a.getHeight();
        if (b.getWidth() != width || b.getHeight() != height) {
            throw new IllegalArgumentException("Images of " + width + "x" + height + " and " + b.getWidth() + "x"
                    + b.getHeight() + " cannot be compared");
        }
        int[] first = a.getRGB(0, 0, width, height, null, 0, width);
        int[] second = b.getRGB(0, 0, width, height, null, 0, width);
        int max = 0;
        long sum = 0;
        long differing = 0;
        for (int i = 0; i < first.length; i++) {
            for (int shift = 0; shift <= 16; shift += 8) {
                int difference = Math.abs(((first[i] >> shift) & 0xff) - ((second[i] >> shift) & 0xff));
                max = Math.max(max, difference);
                sum += difference;
                if (difference != 0) {
                    differing++;
                }
            }
        }
        long values = 3L * first.length;
        return new ImageDifference(max, (double) sum / values, (double) differing / values);
    }
}
