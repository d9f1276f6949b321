package dev.suppress.core.attention;

/** Self-attention ({@code attn1}: pixels attend to pixels) or cross-attention ({@code attn2}: pixels attend to tokens). */
public enum AttentionKind {
    SELF, CROSS
}
