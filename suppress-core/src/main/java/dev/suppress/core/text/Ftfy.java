package dev.suppress.core.text;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The part of {@code ftfy.fix_text} (ftfy 6.1.1, default {@code TextFixerConfig}) that changes prompts: the text
 * clean-up that transformers' slow {@code CLIPTokenizer._tokenize} applies before BPE when ftfy is installed, as it was
 * for the tokenizer fixtures.
 *
 * <p>Mirrors {@code ftfy.fix_text} and {@code ftfy.fix_and_explain}: the text is fixed one line at a time; within a
 * line the fixes below run in ftfy's order and repeat until nothing changes:
 * <ol>
 *   <li>{@code unescape_html}: HTML5 named references ({@code &amp;}, {@code &eacute;}, ftfy's upper-case variants
 *       such as {@code &EACUTE;}) and numeric references ({@code &#x2019;}), decoded as Python's
 *       {@code html.unescape} does. ftfy's "auto" rule: from the first line that contains a {@code <} on (that line
 *       included), nothing is unescaped, because the text is probably HTML;</li>
 *   <li>{@code fix_c1_controls}: U+0080..U+009F read as Windows-1252 ("sloppy": the five unassigned bytes stay);</li>
 *   <li>{@code fix_latin_ligatures} ({@code ﬁ} to {@code fi}, Dutch {@code ĳ}, Serbo-Croatian digraphs);</li>
 *   <li>{@code fix_character_width}: fullwidth and halfwidth forms U+FF01..U+FFEF to their NFKC form, U+3000 to a
 *       space;</li>
 *   <li>{@code uncurl_quotes}: U+02BC, U+2018..U+201B to {@code '}; U+201C..U+201F to {@code "};</li>
 *   <li>{@code fix_line_breaks}: CRLF, CR, U+2028, U+2029, U+0085 to LF;</li>
 *   <li>{@code fix_surrogates}: unpaired UTF-16 surrogates to U+FFFD (paired ones already form one code point in
 *       Java);</li>
 *   <li>{@code remove_terminal_escapes}: ANSI sequences {@code ESC [ digits/; letter};</li>
 *   <li>{@code remove_control_chars}: U+0000..U+0008, U+000B, U+000E..U+001F, U+007F, U+206A..U+206F, U+FEFF,
 *       U+FFF9..U+FFFC;</li>
 *   <li>NFC normalization.</li>
 * </ol>
 *
 * <p>Left out on purpose: {@code fix_encoding}, ftfy's mojibake repair (text such as {@code "cafÃ©"} that was
 * decoded with the wrong charset). It rests on a large heuristic and is irrelevant for prompts that were typed, not
 * mis-decoded; such text is tokenized as it stands here, where the Python tokenizer would first repair it. Unicode
 * data (NFC, NFKC of the width forms) comes from the JDK (Unicode 13 in Java 17), which differs from Python's only
 * for characters assigned since.
 */
final class Ftfy {

    /** ftfy's {@code max_decode_length}: a longer line is fixed in pieces of this many code points. */
    private static final int MAX_DECODE_LENGTH = 1_000_000;

    /** ftfy {@code chardata.HTML_ENTITY_RE}. */
    private static final Pattern HTML_ENTITY = Pattern.compile("&#?[0-9A-Za-z]{1,24};");

    /** ftfy {@code fixes.ANSI_RE}; Python's {@code \d} in a str pattern is any decimal digit (Nd). */
    private static final Pattern ANSI_ESCAPE = Pattern.compile("\u001b\\[[\\p{Nd};]*[a-zA-Z]");

    /** Windows-1252 characters of bytes 0x80..0x9F; the unassigned bytes map to themselves ("sloppy" codec). */
    private static final char[] WINDOWS_1252_C1 = {
        '\u20ac', '\u0081', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
        '\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008d', '\u017d', '\u008f',
        '\u0090', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
        '\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\u009d', '\u017e', '\u0178',
    };

    /** ftfy {@code chardata.LIGATURES}. */
    private static final Map<Character, String> LIGATURES = Map.ofEntries(
            Map.entry('\u0132', "IJ"), Map.entry('\u0133', "ij"), Map.entry('\u0149', "\u02bcn"),
            Map.entry('\u01f1', "DZ"), Map.entry('\u01f2', "Dz"), Map.entry('\u01f3', "dz"),
            Map.entry('\u01c4', "D\u017d"), Map.entry('\u01c5', "D\u017e"), Map.entry('\u01c6', "d\u017e"),
            Map.entry('\u01c7', "LJ"), Map.entry('\u01c8', "Lj"), Map.entry('\u01c9', "lj"),
            Map.entry('\u01ca', "NJ"), Map.entry('\u01cb', "Nj"), Map.entry('\u01cc', "nj"),
            Map.entry('\ufb00', "ff"), Map.entry('\ufb01', "fi"), Map.entry('\ufb02', "fl"),
            Map.entry('\ufb03', "ffi"), Map.entry('\ufb04', "ffl"), Map.entry('\ufb05', "\u017ft"),
            Map.entry('\ufb06', "st"));

    /** ftfy {@code chardata.WIDTH_MAP}, indexed by {@code char - 0xFF01}; {@code null} where nothing changes. */
    private static final String[] WIDTH_FORMS = widthForms();

    private Ftfy() {
    }

    /**
     * Fixes a text as {@code ftfy.fix_text(text)} does with its defaults, less mojibake repair (see the class
     * comment).
     */
    static String fixText(String text) {
        StringBuilder out = new StringBuilder(text.length());
        boolean unescapeHtml = true;
        int position = 0;
        while (position < text.length()) {
            int lineBreak = text.indexOf('\n', position);
            int end = lineBreak < 0 ? text.length() : lineBreak + 1;
            if (text.codePointCount(position, end) > MAX_DECODE_LENGTH) {
                end = text.offsetByCodePoints(position, MAX_DECODE_LENGTH);
            }
            String segment = text.substring(position, end);
            // ftfy.fix_text: once a segment shows a '<', the text may be HTML; stop unescaping from there on.
            if (unescapeHtml && segment.indexOf('<') >= 0) {
                unescapeHtml = false;
            }
            out.append(fixSegment(segment, unescapeHtml));
            position = end;
        }
        return out.toString();
    }

    /** ftfy {@code fix_and_explain}: every fix in order, repeated until the text is stable. */
    private static String fixSegment(String segment, boolean unescapeHtml) {
        String text = segment;
        while (true) {
            String original = text;
            if (unescapeHtml) {
                text = unescapeHtml(text);
            }
            text = fixC1Controls(text);
            text = fixLatinLigatures(text);
            text = fixCharacterWidth(text);
            text = uncurlQuotes(text);
            text = fixLineBreaks(text);
            text = fixSurrogates(text);
            text = removeTerminalEscapes(text);
            text = removeControlChars(text);
            text = Normalizer.normalize(text, Normalizer.Form.NFC);
            if (text.equals(original)) {
                return text;
            }
        }
    }

    /** ftfy {@code fixes.unescape_html}. */
    static String unescapeHtml(String text) {
        if (text.indexOf('&') < 0) {
            return text;
        }
        Matcher matcher = HTML_ENTITY.matcher(text);
        StringBuilder out = new StringBuilder(text.length());
        while (matcher.find()) {
            matcher.appendReplacement(out, Matcher.quoteReplacement(unescapeEntity(matcher.group())));
        }
        matcher.appendTail(out);
        return out.toString();
    }

    /** ftfy {@code fixes._unescape_fixup} for one match of {@link #HTML_ENTITY}. */
    private static String unescapeEntity(String entity) {
        String named = HtmlEntities.TABLE.get(entity);
        if (named != null) {
            return named;
        }
        if (!entity.startsWith("&#")) {
            return entity;
        }
        String unescaped = unescapeCharacterReference(entity);
        // ftfy: if html.unescape decoded only part of it (the ';' survived), keep the reference as it was.
        return unescaped.indexOf(';') >= 0 ? entity : unescaped;
    }

    /**
     * Python's {@code html.unescape} applied to a whole {@code &#...;} match: the leading {@code &#digits} or
     * {@code &#x/X hexdigits} are decoded (taking the ';' only when the digits reach it); the rest stays.
     */
    private static String unescapeCharacterReference(String entity) {
        int start = 2;
        int radix = 10;
        if (entity.length() > 3 && (entity.charAt(2) == 'x' || entity.charAt(2) == 'X')) {
            start = 3;
            radix = 16;
        }
        int end = start;
        while (end < entity.length() && Character.digit(entity.charAt(end), radix) >= 0
                && entity.charAt(end) < 0x80) {
            end++;
        }
        if (end == start) {
            return entity;
        }
        BigInteger number = new BigInteger(entity.substring(start, end), radix);
        boolean consumedSemicolon = end == entity.length() - 1;
        String rest = consumedSemicolon ? "" : entity.substring(end);
        return characterReference(number) + rest;
    }

    /** Python {@code html._replace_charref} for a numeric reference. */
    private static String characterReference(BigInteger number) {
        if (number.bitLength() > 31 || number.intValue() > Character.MAX_CODE_POINT) {
            return "\ufffd";
        }
        int codePoint = number.intValue();
        if (codePoint == 0) {
            return "\ufffd";
        }
        if (codePoint == 0x0d) {
            return "\r";
        }
        if (codePoint >= 0x80 && codePoint <= 0x9f) {
            return String.valueOf(WINDOWS_1252_C1[codePoint - 0x80]);
        }
        if (codePoint >= Character.MIN_SURROGATE && codePoint <= Character.MAX_SURROGATE) {
            return "\ufffd";
        }
        boolean invalid = (codePoint >= 0x01 && codePoint <= 0x08) || codePoint == 0x0b
                || (codePoint >= 0x0e && codePoint <= 0x1f) || codePoint == 0x7f
                || (codePoint >= 0xfdd0 && codePoint <= 0xfdef) || (codePoint & 0xfffe) == 0xfffe;
        return invalid ? "" : new String(Character.toChars(codePoint));
    }

    /** ftfy {@code fixes.fix_c1_controls}. */
    static String fixC1Controls(String text) {
        char[] chars = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c >= 0x80 && c <= 0x9f) {
                if (chars == null) {
                    chars = text.toCharArray();
                }
                chars[i] = WINDOWS_1252_C1[c - 0x80];
            }
        }
        return chars == null ? text : new String(chars);
    }

    /** ftfy {@code fixes.fix_latin_ligatures}. */
    static String fixLatinLigatures(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            String replacement = LIGATURES.get(text.charAt(i));
            if (replacement != null && out == null) {
                out = new StringBuilder(text.length() + 8).append(text, 0, i);
            }
            if (out != null) {
                if (replacement != null) {
                    out.append(replacement);
                } else {
                    out.append(text.charAt(i));
                }
            }
        }
        return out == null ? text : out.toString();
    }

    /** ftfy {@code fixes.fix_character_width}. */
    static String fixCharacterWidth(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            String replacement = null;
            if (c == '\u3000') {
                replacement = " ";
            } else if (c >= 0xff01 && c <= 0xffef) {
                replacement = WIDTH_FORMS[c - 0xff01];
            }
            if (replacement != null && out == null) {
                out = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (out != null) {
                if (replacement != null) {
                    out.append(replacement);
                } else {
                    out.append(c);
                }
            }
        }
        return out == null ? text : out.toString();
    }

    /** ftfy {@code fixes.uncurl_quotes}. */
    static String uncurlQuotes(String text) {
        char[] chars = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            char replacement = 0;
            if (c == '\u02bc' || (c >= '\u2018' && c <= '\u201b')) {
                replacement = '\'';
            } else if (c >= '\u201c' && c <= '\u201f') {
                replacement = '"';
            }
            if (replacement != 0) {
                if (chars == null) {
                    chars = text.toCharArray();
                }
                chars[i] = replacement;
            }
        }
        return chars == null ? text : new String(chars);
    }

    /** ftfy {@code fixes.fix_line_breaks}. */
    static String fixLineBreaks(String text) {
        return text.replace("\r\n", "\n").replace('\r', '\n').replace('\u2028', '\n').replace('\u2029', '\n')
                .replace('\u0085', '\n');
    }

    /** ftfy {@code fixes.fix_surrogates}: in a Java string only unpaired surrogates remain to be replaced. */
    static String fixSurrogates(String text) {
        char[] chars = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < text.length()
                    && Character.isLowSurrogate(text.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                if (chars == null) {
                    chars = text.toCharArray();
                }
                chars[i] = '\ufffd';
            }
        }
        return chars == null ? text : new String(chars);
    }

    /** ftfy {@code fixes.remove_terminal_escapes}. */
    static String removeTerminalEscapes(String text) {
        return text.indexOf('\u001b') < 0 ? text : ANSI_ESCAPE.matcher(text).replaceAll("");
    }

    /** ftfy {@code fixes.remove_control_chars} (table {@code chardata.CONTROL_CHARS}). */
    static String removeControlChars(String text) {
        StringBuilder out = null;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            boolean remove = c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1f) || c == 0x7f
                    || (c >= 0x206a && c <= 0x206f) || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffc);
            if (remove && out == null) {
                out = new StringBuilder(text.length()).append(text, 0, i);
            }
            if (out != null && !remove) {
                out.append(c);
            }
        }
        return out == null ? text : out.toString();
    }

    private static String[] widthForms() {
        String[] forms = new String[0xffef - 0xff01 + 1];
        for (char c = 0xff01; c <= 0xffef; c++) {
            String original = String.valueOf(c);
            String normalized = Normalizer.normalize(original, Normalizer.Form.NFKC);
            if (!normalized.equals(original)) {
                forms[c - 0xff01] = normalized;
            }
        }
        return forms;
    }

    /** The named references, read once from {@code html-entities.tsv} beside this class. */
    private static final class HtmlEntities {

        static final Map<String, String> TABLE = load();

        private static Map<String, String> load() {
            String resource = "html-entities.tsv";
            Map<String, String> table = new HashMap<>(4096);
            try (InputStream in = Ftfy.class.getResourceAsStream(resource)) {
                if (in == null) {
                    throw new IllegalStateException("Missing resource " + resource + " beside " + Ftfy.class);
                }
                BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    if (line.isEmpty() || line.startsWith("#")) {
                        continue;
                    }
                    int tab = line.indexOf('\t');
                    StringBuilder value = new StringBuilder(2);
                    for (String hex : line.substring(tab + 1).split(" ")) {
                        value.appendCodePoint(Integer.parseInt(hex, 16));
                    }
                    table.put(line.substring(0, tab), value.toString());
                }
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read resource " + resource, e);
            }
            return Map.copyOf(table);
        }
    }
}
