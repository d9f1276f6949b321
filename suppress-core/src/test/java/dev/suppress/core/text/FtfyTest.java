package dev.suppress.core.text;


import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Ftfy#fixText} against outputs of Python's {@code ftfy.fix_text(text, fix_encoding=False)}, recorded from
 * ftfy 6.3.1, whose fixers other than {@code fix_encoding} are those of 6.1.1 (its changelog changes only mojibake
 * heuristics since). Mojibake repair is left out of our port on purpose, hence {@code fix_encoding=False}.
 */
class FtfyTest {

    static Stream<Arguments> recordedCases() {
        return Stream.of(
                Arguments.of("named references", "&amp; html &lt;escaped&gt; &quot;text&quot;",
                        "& html <escaped> \"text\""),
                Arguments.of("repeats until stable", "&amp;amp;", "&"),
                Arguments.of("no unescaping once a line holds '<'", "<b>bold</b> &amp; &lt;3",
                        "<b>bold</b> &amp; &lt;3"),
                Arguments.of("lines before the first '<' are unescaped", "fish &amp; chips\n<tag> &amp; more",
                        "fish & chips\n<tag> &amp; more"),
                Arguments.of("the '<' test looks at the raw line", "line one &eacute;\nline two &lt;b&gt;",
                        "line one \u00e9\nline two <b>"),
                Arguments.of("upper-case variants", "P&EACUTE;REZ BUNDESSTRA&SZLIG;E &ntilde; &Ntilde; &NTILDE; "
                        + "&nTILDE;", "P\u00c9REZ BUNDESSTRASSE \u00f1 \u00d1 \u00d1 &nTILDE;"),
                Arguments.of("numeric references",
                        "it&#x2019;s &#8220;quoted&#8221; &#133; &#59; &#0; &#1; &#12ab; &#x; &#xZZ; "
                                + "&#99999999999999; &#xD800;",
                        "it's \"quoted\" \u2026 &#59; \ufffd  &#12ab; &#x; &#xZZ; \ufffd \ufffd"),
                Arguments.of("only whole references with ';'", "&notanentity; this&not that &NotThat; &Jscr;",
                        "&notanentity; this&not that &NotThat; \ud835\udca5"),
                Arguments.of("latin ligatures", "\ufb02u\ufb03e\ufb06 \u0133s \u01c6 \u0149",
                        "fluffiest ijs d\u017e 'n"),
                Arguments.of("character width",
                        "\uff2c\uff2f\uff35\uff24\u3000\uff2e\uff2f\uff29\uff33\uff25\uff33 \uff35\uff80\uff70\uff9d "
                                + "\uff76\uff9e",
                        "LOUD NOISES U\u30bf\u30fc\u30f3 \u30ac"),
                Arguments.of("curly quotes", "\u201ccurly\u201d \u2018single\u2019 \u201brev\u201f \u02bcmodifier",
                        "\"curly\" 'single' 'rev\" 'modifier"),
                Arguments.of("line breaks; U+0085 is a C1 control first", "a\r\nb\rc\u2028d\u2029e\u0085f",
                        "a\nb\nc\nd\ne\u2026f"),
                Arguments.of("terminal escapes", "\u001b[36;44mblue\u001b[0m text", "blue text"),
                Arguments.of("control characters",
                        "nul\u0000 bell\u0007 vt\u000b ff\f del\u007f bom\ufeff arabic\u206a ann\ufff9 obj\ufffc "
                                + "tab\there",
                        "nul bell vt ff\f del bom arabic ann obj tab\there"),
                Arguments.of("C1 controls as Windows-1252", "c1 \u0080 \u0081 \u008d \u0092 \u009f",
                        "c1 \u20ac \u0081 \u008d ' \u0178"),
                Arguments.of("NFC", "e\u0301 cafe\u0301 \u1100\u1161", "\u00e9 caf\u00e9 \uac00"),
                Arguments.of("NFC after unescaping", "A\u030a \ufb01 &Aring;", "\u00c5 fi \u00c5"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("recordedCases")
    void matchesPythonFtfy(String what, String input, String expected) {
        assertEquals(expected, Ftfy.fixText(input), () -> what + ": fix_text of '" + input + "'");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("recordedCases")
    void isIdempotent(String what, String input, String expected) {
        assertEquals(expected, Ftfy.fixText(expected), () -> what + ": fix_text of the fixed text changed it");
    }

    @Test
    void replacesUnpairedSurrogatesAndKeepsPairs() {
        assertEquals("\ufffd x \ud83d\ude00 \ufffd", Ftfy.fixText("\ud83d x \ud83d\ude00 \ude00"));
    }
}
