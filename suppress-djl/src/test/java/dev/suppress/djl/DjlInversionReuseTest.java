package dev.suppress.djl;

import dev.suppress.core.ImageEditRequest;
import dev.suppress.core.ImageEditResult;
import dev.suppress.core.InversionRequest;
import dev.suppress.core.Mode;
import dev.suppress.core.SuppressionResult;
import dev.suppress.core.Suppressor;
import dev.suppress.core.UNetWork;
import dev.suppress.core.image.Images;
import dev.suppress.core.inversion.Inversion;
import dev.suppress.core.inversion.NullTextOptions;
import dev.suppress.core.inversion.SavedInversion;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.WorkAssertions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Reusing a photo's inversion (issue 13, item 5) on the fixture's tiny model: an edit from a saved inversion equals
 * the edit that inverts again bit for bit, its UNet work lacks exactly the inversion's, and an inversion made for
 * other options is refused naming the field.
 */
class DjlInversionReuseTest {

    private static final String PROMPT = "a red house with a tree under the sun";
    /** Null-text inversion with two Adam steps per denoising step and no early stop, to keep the test short. */
    private static final NullTextOptions TWO_INNER_STEPS = new NullTextOptions(2, 0, 1e-2);

    private static Suppressor suppressor;

    @TempDir
    Path dir;

    @BeforeAll
    static void load() {
        suppressor = Suppressor.builder().backend("djl").modelFolder(Fixtures.tinyModel()).build();
    }

    @AfterAll
    static void close() {
        suppressor.close();
    }

    private static BufferedImage photo() {
        return Images.read(Fixtures.path("real/input.png"));
    }

    /** Four steps, ITO at step 1 with one iteration: every phase runs, briefly. */
    private static ImageEditRequest.Builder edit(Inversion inversion) {
        return ImageEditRequest.builder(photo(), PROMPT).suppress("tree").inversion(inversion)
                .nullText(TWO_INNER_STEPS)
                .suppression(options -> options.steps(4).itoIterations(1).mode(Mode.REFERENCE));
    }

    @Test
    void aReusedNegativePromptInversionGivesTheSameEditWithoutItsWork() {
        assertReuseIsExact(Inversion.NEGATIVE_PROMPT);
    }

    @Test
    void aReusedNullTextInversionGivesTheSameEditWithoutItsWork() {
        assertReuseIsExact(Inversion.NULL_TEXT);
    }

    private void assertReuseIsExact(Inversion method) {
        ImageEditResult fresh = suppressor.edit(edit(method).build());
        assertFalse(fresh.reusedInversion());
        Path file = dir.resolve(method + ".safetensors");
        fresh.saved().write(file);
        SavedInversion read = SavedInversion.read(file);
        ImageEditResult reused = suppressor.edit(edit(method).inversion(read).build());
        assertTrue(reused.reusedInversion());

        assertBitForBit("suppressed latent", fresh.suppression().suppressedLatent(),
                reused.suppression().suppressedLatent());
        assertBitForBit("original latent", fresh.suppression().originalLatent(),
                reused.suppression().originalLatent());
        assertBitForBit("suppressed image", fresh.suppression().suppressedImage(),
                reused.suppression().suppressedImage());
        assertEquals(4, reused.unconditionalEmbeddings().size());
        for (int step = 0; step < 4; step++) {
            assertBitForBit("unconditional " + step, fresh.unconditionalEmbeddings().get(step),
                    reused.unconditionalEmbeddings().get(step));
        }

        // negative-prompt: 4 DDIM inversion passes; null-text adds 4 x (1 conditional + 2 guided) and 4 x 2 probes
        UNetWork inversion = fresh.inversionWork();
        if (method == Inversion.NEGATIVE_PROMPT) {
            WorkAssertions.assertPasses(4, 0, 0, inversion);
        } else {
            WorkAssertions.assertPasses(4 + 12, 0, 8, inversion);
        }
        assertEquals(UNetWork.NONE, reused.inversionWork());
        UNetWork all = fresh.suppression().work();
        WorkAssertions.assertPasses(all.noisePredictions() - inversion.noisePredictions(),
                all.attentionPasses() - inversion.attentionPasses(),
                all.gradientProbes() - inversion.gradientProbes(), reused.suppression().work());
        // suppression: 4 steps x 4 + 1 ITO reference pass, 1 ITO probe (step 1 alone)
        WorkAssertions.assertPasses(17, 0, 1, reused.suppression().work());
    }

    @Test
    void invertMakesTheInversionAnEditMakes() {
        ImageEditResult fresh = suppressor.edit(edit(Inversion.NEGATIVE_PROMPT).build());
        SavedInversion inverted = suppressor.invert(edit(Inversion.NEGATIVE_PROMPT).build().inversionRequest());
        assertEquals(fresh.saved().fingerprint(), inverted.fingerprint());
        assertBitForBit("inverted", fresh.saved().inverted(), inverted.inverted());
        assertBitForBit("unconditional.0", fresh.saved().unconditionals().get(0), inverted.unconditionals().get(0));
        SuppressionResult reused = suppressor.edit(edit(Inversion.NEGATIVE_PROMPT).inversion(inverted).build())
                .suppression();
        assertBitForBit("suppressed latent", fresh.suppression().suppressedLatent(), reused.suppressedLatent());
        InversionRequest defaults = InversionRequest.builder(photo(), PROMPT).build();
        InversionRequest ofEdit = ImageEditRequest.builder(photo(), PROMPT).suppress("tree").build()
                .inversionRequest();
        assertEquals(ofEdit.steps(), defaults.steps());
        assertEquals(ofEdit.guidanceScale(), defaults.guidanceScale());
        assertEquals(ofEdit.inversion(), defaults.inversion());
        assertEquals(ofEdit.nullText(), defaults.nullText());
    }

    @Test
    void anInversionMadeForOtherOptionsIsRefusedNamingTheField() {
        Path file = dir.resolve("npi.safetensors");
        suppressor.invert(edit(Inversion.NEGATIVE_PROMPT).build().inversionRequest()).write(file);
        SavedInversion saved = SavedInversion.read(file);

        IllegalArgumentException prompt = refused(saved, Inversion.NEGATIVE_PROMPT,
                options -> options, "a blue house with a tree under the sun");
        assertEquals("The inversion file " + file + " was made with prompt " + PROMPT + ", this edit asks for a "
                + "blue house with a tree under the sun", prompt.getMessage());

        IllegalArgumentException steps = refused(saved, Inversion.NEGATIVE_PROMPT, options -> options.steps(5),
                PROMPT);
        assertEquals("The inversion file " + file + " was made with steps 4, this edit asks for 5",
                steps.getMessage());

        IllegalArgumentException size = refused(saved, Inversion.NEGATIVE_PROMPT, options -> options.imageSize(128),
                PROMPT);
        assertEquals("The inversion file " + file + " was made with size 256x256, this edit asks for 128x128",
                size.getMessage());

        IllegalArgumentException method = refused(saved, Inversion.NULL_TEXT, options -> options, PROMPT);
        assertTrue(method.getMessage().contains("inversion NEGATIVE_PROMPT, this edit asks for NULL_TEXT"),
                method.getMessage());
    }

    @Test
    void aNullTextInversionRecordsItsOptimizerSettings() {
        SavedInversion saved = suppressor.invert(InversionRequest.builder(photo(), PROMPT).steps(2)
                .nullText(new NullTextOptions(1, 0, 1e-2)).build());
        assertEquals(2, saved.unconditionals().size());
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class, () -> suppressor.edit(
                ImageEditRequest.builder(photo(), PROMPT).suppress("tree").nullText(TWO_INNER_STEPS)
                        .suppression(options -> options.steps(2).itoIterations(0)).inversion(saved).build()));
        assertEquals("The saved inversion was made with null-text innerSteps=1 earlyStopEpsilon=0.0 "
                + "baseLearningRate=0.01, this edit asks for innerSteps=2 earlyStopEpsilon=0.0 baseLearningRate=0.01",
                refused.getMessage());
    }

    private static IllegalArgumentException refused(SavedInversion saved, Inversion method,
                                                    UnaryOperator<dev.suppress.core.SuppressionRequest.Builder> options,
                                                    String prompt) {
        return assertThrows(IllegalArgumentException.class, () -> suppressor.edit(
                ImageEditRequest.builder(photo(), prompt).suppress("tree").inversion(method).nullText(TWO_INNER_STEPS)
                        .suppression(request -> options.apply(request.steps(4).itoIterations(1)
                                .mode(Mode.REFERENCE))).inversion(saved).build()));
    }

    private static void assertBitForBit(String name, Tensor expected, Tensor actual) {
        assertArrayEquals(expected.shape(), actual.shape(), name + " shape");
        float[] want = expected.toArray();
        float[] got = actual.toArray();
        if (!Arrays.equals(want, got)) {
            int index = Arrays.mismatch(want, got);
            throw new AssertionError(name + " differs first at " + index + ": expected " + want[index] + ", was "
                    + got[index]);
        }
    }
}
