package dev.suppress.core.swr;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.swr.SoftWeightedRegularization.Decomposition;
import dev.suppress.core.swr.SoftWeightedRegularization.Variant;
import dev.suppress.core.tensor.Tensor;
import dev.suppress.core.testing.Fixtures;
import dev.suppress.core.testing.TensorAssertions.Tolerance;
import org.ejml.data.DMatrixRMaj;
import org.ejml.dense.row.CommonOps_DDRM;
import org.ejml.dense.row.factory.DecompositionFactory_DDRM;
import org.ejml.interfaces.decomposition.EigenDecomposition_F64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import static dev.suppress.core.testing.TensorAssertions.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SoftWeightedRegularizationTest {

    private static final String FIXTURE = "swr/swr.safetensors";

    /**
     * The reference takes a float32 torch SVD of an 80 x k matrix with sigma_0 near 70: its singular values carry
     * errors near 1e-5 absolute, which reach the rewritten rows (|values| up to 5). Ours is float64.
     */
    private static final Tolerance VERSUS_FLOAT32_SVD = new Tolerance(1e-5, 3e-5,
            "reference is a float32 torch SVD (sigma_0 ~ 70), ours float64");
    /** The same float32 SVD error on the singular values themselves. */
    private static final Tolerance SINGULAR_VALUES = new Tolerance(1e-5, 3e-5,
            "reference singular values from a float32 torch SVD, ours float64");
    /** Float64 SVD identities, relative to sigma_0 (here ~ 10): a few hundred float64 ulps. */
    private static final double FLOAT64_IDENTITY = 1e-12;
    /** A float64 round trip written back as float32: at most one float32 rounding. */
    private static final Tolerance ONE_FLOAT32_ROUNDING = new Tolerance(1.2e-7, 1e-9,
            "float64 reconstruction rounded once to float32");

    /** The variants recorded in the fixture: the reference's method name and alpha. */
    private static final Object[][] METHODS = {
            {"soft-weight", 1.0}, {"soft-weight", -0.001}, {"alpha", 0.5}, {"beta", 0.5}, {"delete", 0.5},
            {"weight", 0.5}};

    record Case(int index, int[] tokenIndices, int promptLength) {
        @Override
        public String toString() {
            return "p" + index + " " + Arrays.toString(tokenIndices) + " n=" + promptLength;
        }
    }

    static List<Case> cases() throws IOException {
        JsonNode manifest = new ObjectMapper().readTree(Fixtures.path("manifest.json").toFile());
        JsonNode casesNode = manifest.get("files").get(FIXTURE).get("cases");
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < casesNode.size(); i++) {
            JsonNode node = casesNode.get(i);
            int[] indices = new int[node.get("token_indices").size()];
            for (int j = 0; j < indices.length; j++) {
                indices[j] = node.get("token_indices").get(j).intValue();
            }
            cases.add(new Case(i, indices, node.get("n").intValue()));
        }
        return cases;
    }

    static Stream<Arguments> caseAndMethod() throws IOException {
        List<Arguments> arguments = new ArrayList<>();
        for (Case fixtureCase : cases()) {
            for (Object[] method : METHODS) {
                arguments.add(Arguments.of(fixtureCase, method[0], method[1]));
            }
        }
        return arguments.stream();
    }

    static Stream<Case> fixtureCases() throws IOException {
        return cases().stream();
    }

    private static SoftWeightedRegularization forMethod(String method, double alpha) {
        Variant variant = switch (method) {
            case "soft-weight" -> Variant.SOFT_WEIGHT;
            case "alpha" -> Variant.ALPHA;
            case "beta" -> Variant.BETA;
            case "delete" -> Variant.DELETE;
            case "weight" -> Variant.WEIGHT;
            default -> throw new IllegalArgumentException(method);
        };
        return new SoftWeightedRegularization(variant, alpha);
    }

    /** The fixture key: p{k}_{method}_{alpha} with '-' as '_' and '.' as 'p'. */
    private static String key(Case fixtureCase, String method, double alpha) {
        return "p" + fixtureCase.index() + "_" + method.replace('-', '_') + "_"
                + Double.toString(alpha).replace('-', '_').replace('.', 'p');
    }

    private static Tensor before(Case fixtureCase) {
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            return fixture.tensor("p" + fixtureCase.index() + "_before");
        }
    }

    @ParameterizedTest(name = "case {0}: {1} alpha {2}")
    @MethodSource("caseAndMethod")
    void matchesTheReference(Case fixtureCase, String method, double alpha) {
        Tensor expected;
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            expected = fixture.tensor(key(fixtureCase, method, alpha));
        }
        Tensor before = before(fixtureCase);
        Tensor actual = forMethod(method, alpha).apply(before, fixtureCase.tokenIndices(),
                fixtureCase.promptLength());
        assertClose(key(fixtureCase, method, alpha), expected, actual, VERSUS_FLOAT32_SVD);
    }

    @Test
    void matchesTheErasedEmbeddingOfTheEndToEndRun() {
        // ALGORITHM.md §3: from step 10 on the erased branch uses SWR of the original embedding (soft-weight 1).
        try (SafetensorsFile run = Fixtures.open("e2e/gen_swr_only.safetensors")) {
            Tensor actual = SoftWeightedRegularization.softWeight(1).apply(run.tensor("text_embeddings"),
                    new int[] {4}, 6);
            assertClose("e2e swr_embedding_step10", run.tensor("swr_embedding_step10"), actual, VERSUS_FLOAT32_SVD);
            assertClose("e2e erase_embedding_used_step20", run.tensor("erase_embedding_used_step20"), actual,
                    VERSUS_FLOAT32_SVD);
        }
    }

    @ParameterizedTest(name = "case {0}")
    @MethodSource("fixtureCases")
    void rowsAndSingularValuesMatchTheReference(Case fixtureCase) {
        long[] expectedRows;
        float[] expectedSigma;
        try (SafetensorsFile fixture = Fixtures.open(FIXTURE)) {
            expectedRows = fixture.longs("p" + fixtureCase.index() + "_indices");
            expectedSigma = fixture.floats("p" + fixtureCase.index() + "_singular_values");
        }
        int[] rows = SoftWeightedRegularization.regularizedRows(fixtureCase.tokenIndices(),
                fixtureCase.promptLength());
        assertArrayEquals(expectedRows, Arrays.stream(rows).asLongStream().toArray());
        Decomposition decomposition = SoftWeightedRegularization.softWeight(1)
                .decompose(before(fixtureCase), fixtureCase.tokenIndices(), fixtureCase.promptLength());
        assertClose("p" + fixtureCase.index() + "_singular_values", toDouble(expectedSigma),
                decomposition.singularValues(), SINGULAR_VALUES);
    }

    @ParameterizedTest(name = "case {0}")
    @MethodSource("fixtureCases")
    void strengthenIsSoftWeightAtMinusOneThousandth(Case fixtureCase) {
        Tensor before = before(fixtureCase);
        Tensor strengthened = SoftWeightedRegularization.strengthen().apply(before, fixtureCase.tokenIndices(),
                fixtureCase.promptLength());
        Tensor quirk = SoftWeightedRegularization.softWeight(SoftWeightedRegularization.STRENGTHEN_ALPHA)
                .apply(before, fixtureCase.tokenIndices(), fixtureCase.promptLength());
        assertEquals(strengthened, quirk);
        Tensor nearby = SoftWeightedRegularization.softWeight(0.001).apply(before, fixtureCase.tokenIndices(),
                fixtureCase.promptLength());
        assertNotEquals(strengthened, nearby);
    }

    @ParameterizedTest(name = "case {0}")
    @MethodSource("fixtureCases")
    void deleteAndAlphaAgreeAndLeaveOtherRowsUntouched(Case fixtureCase) {
        Tensor before = before(fixtureCase);
        int[] tokens = fixtureCase.tokenIndices();
        int n = fixtureCase.promptLength();
        Tensor deleted = new SoftWeightedRegularization(Variant.DELETE, 0.5).apply(before, tokens, n);
        Tensor zeroed = new SoftWeightedRegularization(Variant.ALPHA, 0.5).apply(before, tokens, n);
        assertClose("delete vs alpha", zeroed, deleted, ONE_FLOAT32_ROUNDING);
        int[] rows = SoftWeightedRegularization.regularizedRows(tokens, n);
        int width = before.dim(-1);
        float[] input = before.toArray();
        float[] output = SoftWeightedRegularization.softWeight(1).apply(before, tokens, n).toArray();
        for (int row = 0; row < 77; row++) {
            boolean rewritten = contains(rows, row);
            float[] in = Arrays.copyOfRange(input, row * width, (row + 1) * width);
            float[] out = Arrays.copyOfRange(output, row * width, (row + 1) * width);
            if (rewritten) {
                assertTrue(!Arrays.equals(in, out), "row " + row + " is in R and should change");
            } else {
                assertArrayEquals(in, out, "row " + row + " is outside R and must be copied bit for bit");
            }
        }
    }

    @Test
    void decompositionReconstructsChiWithDescendingSingularValues() {
        Random random = new Random(345);
        for (int[] size : new int[][] {{80, 73}, {16, 20}, {768, 3}, {64, 76}}) {
            int width = size[0];
            int promptLength = 78 - size[1];
            Tensor embedding = randomEmbedding(random, width, 1.0);
            Decomposition decomposition = SoftWeightedRegularization.softWeight(1).decompose(embedding, new int[0],
                    promptLength);
            double[] sigma = decomposition.singularValues();
            assertEquals(Math.min(width, size[1]), sigma.length, "economy SVD components for " + width + " x "
                    + size[1]);
            for (int j = 1; j < sigma.length; j++) {
                assertTrue(sigma[j - 1] >= sigma[j], "singular values descend at " + j + ": "
                        + Arrays.toString(sigma));
            }
            DMatrixRMaj reconstructed = new DMatrixRMaj(width, size[1]);
            DMatrixRMaj scaledU = decomposition.u().copy();
            for (int m = 0; m < width; m++) {
                for (int j = 0; j < sigma.length; j++) {
                    scaledU.set(m, j, scaledU.get(m, j) * sigma[j]);
                }
            }
            CommonOps_DDRM.multTransB(scaledU, decomposition.v(), reconstructed);
            DMatrixRMaj chi = chi(embedding, SoftWeightedRegularization.regularizedRows(new int[0], promptLength));
            assertClose("U S V^T vs chi (" + width + " x " + size[1] + ")", chi.data, reconstructed.data,
                    new Tolerance(0, FLOAT64_IDENTITY * sigma[0], "float64 SVD round trip"));
        }
    }

    @Test
    void softWeightWithZeroAlphaIsTheIdentity() {
        Tensor embedding = randomEmbedding(new Random(345), 80, 1.0);
        Tensor result = SoftWeightedRegularization.softWeight(0).apply(embedding, new int[] {2, 3}, 6);
        assertClose("soft-weight alpha 0", embedding, result, ONE_FLOAT32_ROUNDING);
    }

    @Test
    void moreRowsThanWidthMatchesThePlainMatrixFunction() {
        // k = 20 > M = 16: the reference cannot do this. Soft weighting is χ̂ = χ g(χᵀχ) with
        // g(λ) = exp(-α √λ) (on the null space χ maps to zero, so g there does not matter): compute that
        // independently with a symmetric eigendecomposition of χᵀχ.
        Random random = new Random(345);
        int width = 16;
        Tensor embedding = randomEmbedding(random, width, 0.5);
        int[] tokens = {5};
        int promptLength = 59;
        int[] rows = SoftWeightedRegularization.regularizedRows(tokens, promptLength);
        assertEquals(20, rows.length);
        double alpha = 0.3;
        Tensor actual = SoftWeightedRegularization.softWeight(alpha).apply(embedding, tokens, promptLength);

        DMatrixRMaj chi = chi(embedding, rows);
        DMatrixRMaj gram = new DMatrixRMaj(rows.length, rows.length);
        CommonOps_DDRM.multTransA(chi, chi, gram);
        EigenDecomposition_F64<DMatrixRMaj> eigen = DecompositionFactory_DDRM.eig(rows.length, true, true);
        assertTrue(eigen.decompose(gram));
        DMatrixRMaj function = new DMatrixRMaj(rows.length, rows.length);
        for (int e = 0; e < rows.length; e++) {
            double lambda = Math.max(0, eigen.getEigenvalue(e).getReal());
            DMatrixRMaj vector = eigen.getEigenVector(e);
            double weight = Math.exp(-alpha * Math.sqrt(lambda));
            for (int i = 0; i < rows.length; i++) {
                for (int j = 0; j < rows.length; j++) {
                    function.add(i, j, weight * vector.get(i) * vector.get(j));
                }
            }
        }
        DMatrixRMaj expectedChiHat = new DMatrixRMaj(width, rows.length);
        CommonOps_DDRM.mult(chi, function, expectedChiHat);
        float[] expected = embedding.toArray();
        for (int col = 0; col < rows.length; col++) {
            for (int m = 0; m < width; m++) {
                expected[rows[col] * width + m] = (float) expectedChiHat.get(m, col);
            }
        }
        assertClose("k > M soft weight vs eigen-based matrix function", Tensor.of(expected, 77, width), actual,
                new Tolerance(1e-6, 1e-6, "two float64 routes (SVD vs eigen of the Gram matrix) rounded to float32"));
    }

    @Test
    void oneWordAndEmptyPromptsRegularizeOnlyEotRowsAndTheWord() {
        Tensor embedding = randomEmbedding(new Random(345), 80, 1.0);
        int[] oneWordRows = SoftWeightedRegularization.regularizedRows(new int[] {1}, 3);
        assertEquals(76, oneWordRows.length);
        assertEquals(1, oneWordRows[0]);
        assertEquals(2, oneWordRows[1]);
        Tensor oneWord = SoftWeightedRegularization.softWeight(1).apply(embedding, new int[] {1}, 3);
        assertArrayEquals(Arrays.copyOf(embedding.toArray(), 80), Arrays.copyOf(oneWord.toArray(), 80),
                "[SOT] row untouched");
        assertNotEquals(embedding, oneWord);
        Tensor empty = SoftWeightedRegularization.softWeight(1).apply(embedding, new int[0], 2);
        assertArrayEquals(Arrays.copyOf(embedding.toArray(), 80), Arrays.copyOf(empty.toArray(), 80));
        assertEquals(76, SoftWeightedRegularization.regularizedRows(new int[0], 2).length);
        int[] fullRows = SoftWeightedRegularization.regularizedRows(new int[] {75}, 77);
        assertArrayEquals(new int[] {75, 76}, fullRows, "76-token prompt: one EOT row");
    }

    @Test
    void cutOffsAtOrBeyondKZeroEverythingOrNothing() {
        Tensor embedding = randomEmbedding(new Random(345), 80, 1.0);
        int[] rows = SoftWeightedRegularization.regularizedRows(new int[] {4}, 6);
        float[] deleted = new SoftWeightedRegularization(Variant.DELETE, 1.0).apply(embedding, new int[] {4}, 6)
                .toArray();
        float[] keptAll = new SoftWeightedRegularization(Variant.BETA, 1.5).apply(embedding, new int[] {4}, 6)
                .toArray();
        for (int row : rows) {
            for (int m = 0; m < 80; m++) {
                assertEquals(0f, deleted[row * 80 + m], "delete with alpha 1 zeroes row " + row);
            }
        }
        assertClose("beta beyond k keeps everything", embedding, Tensor.of(keptAll, 77, 80), ONE_FLOAT32_ROUNDING);
    }

    @Test
    void batchedInputIsRegularizedPerElementAndInputsAreNotModified() {
        Random random = new Random(345);
        Tensor first = randomEmbedding(random, 80, 1.0);
        Tensor second = randomEmbedding(random, 80, 1.0);
        Tensor batch = Tensor.stack(first, second);
        Tensor batchCopy = Tensor.of(batch.toArray(), batch.shape());
        int[] tokens = {4, 2};
        int[] tokensCopy = tokens.clone();
        SoftWeightedRegularization swr = SoftWeightedRegularization.softWeight(1);
        Tensor result = swr.apply(batch, tokens, 6);
        assertArrayEquals(new int[] {2, 77, 80}, result.shape());
        assertEquals(swr.apply(first, tokens, 6), result.slice(0));
        assertEquals(swr.apply(second, tokens, 6), result.slice(1));
        assertEquals(batchCopy, batch);
        assertArrayEquals(tokensCopy, tokens);
        Tensor single = swr.apply(first.reshape(1, 77, 80), tokens, 6);
        assertArrayEquals(new int[] {1, 77, 80}, single.shape());
    }

    @Test
    void weightVariantScalesInFloat32() {
        Tensor embedding = randomEmbedding(new Random(345), 8, 1.0);
        float[] result = new SoftWeightedRegularization(Variant.WEIGHT, 0.3).apply(embedding, new int[] {1}, 4)
                .toArray();
        float[] input = embedding.toArray();
        assertEquals(input[8] * 0.3f, result[8]);
        assertEquals(input[0], result[0]);
    }

    @Test
    void badIndicesNameTheIndexAndTheValidRange() {
        Tensor embedding = randomEmbedding(new Random(345), 80, 1.0);
        SoftWeightedRegularization swr = SoftWeightedRegularization.softWeight(1);
        for (int bad : new int[] {0, 5, 77, -1}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> swr.apply(embedding, new int[] {bad}, 6));
            assertTrue(error.getMessage().contains("index " + bad) && error.getMessage().contains("1..4"),
                    error.getMessage());
        }
        IllegalArgumentException repeated = assertThrows(IllegalArgumentException.class,
                () -> swr.apply(embedding, new int[] {3, 3}, 6));
        assertTrue(repeated.getMessage().contains("twice"), repeated.getMessage());
        for (int badLength : new int[] {1, 78}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> swr.apply(embedding, new int[0], badLength));
            assertTrue(error.getMessage().contains("n = " + badLength), error.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> swr.apply(embedding, new int[] {1}, 2))
                .getMessage().contains("empty"));
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> swr.apply(Tensor.zeros(76, 80), new int[] {1}, 6));
        assertTrue(shape.getMessage().contains("[76, 80]"), shape.getMessage());
    }

    @Test
    void badAlphasAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> SoftWeightedRegularization.softWeight(-0.5));
        assertThrows(IllegalArgumentException.class, () -> new SoftWeightedRegularization(Variant.ALPHA, -0.1));
        assertThrows(IllegalArgumentException.class, () -> SoftWeightedRegularization.softWeight(Double.NaN));
        assertEquals(Variant.SOFT_WEIGHT, SoftWeightedRegularization.softWeight(-0.001).variant());
        assertEquals(Variant.STRENGTHEN, SoftWeightedRegularization.strengthen().variant());
    }

    private static Tensor randomEmbedding(Random random, int width, double scale) {
        float[] values = new float[77 * width];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (scale * random.nextGaussian());
        }
        return Tensor.of(values, 77, width);
    }

    private static DMatrixRMaj chi(Tensor embedding, int[] rows) {
        int width = embedding.dim(-1);
        DMatrixRMaj chi = new DMatrixRMaj(width, rows.length);
        for (int col = 0; col < rows.length; col++) {
            for (int m = 0; m < width; m++) {
                chi.set(m, col, embedding.get(rows[col] * width + m));
            }
        }
        return chi;
    }

    private static boolean contains(int[] values, int value) {
        for (int candidate : values) {
            if (candidate == value) {
                return true;
            }
        }
        return false;
    }

    private static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = values[i];
        }
        return out;
    }
}
