package dev.suppress.core.attention;

/** Where in the UNet an attention layer sits: the down path, the middle block or the up path. */
public enum UNetPlace {
    DOWN, MID, UP
}
