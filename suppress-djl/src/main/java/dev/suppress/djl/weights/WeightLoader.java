package dev.suppress.djl.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.suppress.core.io.ModelFormatException;
import dev.suppress.core.io.SafetensorsDType;
import dev.suppress.core.io.SafetensorsFile;
import dev.suppress.core.io.TensorInfo;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Loads the parameters of one model part from its safetensors file into an {@link NDManager}, in the part's compute
 * type (float32 unless opened with another), checking
 * every name and shape against what the part's {@code config.json} implies.
 *
 * <p>Layers ask for their parameters by their exact diffusers/transformers key and the shape they expect. Problems
 * are collected rather than thrown one at a time: a missing or mis-shaped parameter yields a stand-in (a broadcast
 * zero that allocates nothing) so that construction can go on, and {@link #finish} then reports every missing,
 * mis-shaped, wrongly typed and unexpected tensor in one {@link ModelFormatException}.
 *
 * <p>F32, F16 and F64 tensors are read from the memory-mapped file (no intermediate Java array) and converted to
 * the compute type by libtorch, one tensor at a time, so a half-precision part never holds a float32 copy of its
 * weights; BF16 is widened in Java first (one tensor's float array at a time). A tensor already in the compute type
 * is used in place on the CPU: the array aliases the read-only mapping and holds it (file-backed pages, shared with
 * the page cache, not copied); a converted one is owned by libtorch. Normalisation parameters ask for float32
 * ({@link #loadFloat32}): the norms compute in float32, as under autocast.
 *
 * <p>A {@linkplain #recording recording} loader reads no file: it hands out the stand-ins and remembers what was
 * asked for, so that running a model's constructors against it lists the parameters a configuration implies
 * ({@link #requestedShapes}), from the same code that loads them.
 */
public final class WeightLoader implements AutoCloseable {

    /** How many names each kind of problem lists before summarising. */
    private static final int LISTED = 12;

    /** {@code null} for a recording loader. */
    private final TensorSource file;
    private final String displayName;
    private final NDManager manager;
    private final DataType computeType;
    private final DataType matmulType;
    private final Map<String, long[]> requested = new LinkedHashMap<>();
    private final Set<String> consumed = new HashSet<>();
    private final List<String> missing = new ArrayList<>();
    private final List<String> misShaped = new ArrayList<>();
    private final List<String> wrongType = new ArrayList<>();
    private String firstMissing;
    private NDArray zero;

    private WeightLoader(TensorSource file, NDManager manager, DataType computeType) {
        if (computeType != DataType.FLOAT32 && computeType != DataType.FLOAT16 && computeType != DataType.BFLOAT16) {
            throw new IllegalArgumentException("Compute type must be float32, float16 or bfloat16, got " + computeType);
        }
        this.file = file;
        this.manager = manager;
        // bfloat16 is autocast's: activations and the other parameters stay float32 and the convolution and linear
        // layers hold their matrices in bfloat16 (DJL 0.36 cannot cast to it itself, see nn.Bf16Kernels)
        this.computeType = computeType == DataType.BFLOAT16 ? DataType.FLOAT32 : computeType;
        this.matmulType = computeType;
        this.displayName = file == null ? "(recording)" : file.displayName();
    }

    /**
     * Opens a weights file for loading into {@code manager} (which the caller owns).
     *
     * @throws ModelFormatException when the file is not a valid safetensors file
     */
    public static WeightLoader open(Path weightsFile, NDManager manager) {
        return open(weightsFile, manager, DataType.FLOAT32);
    }

    /**
     * Opens a weights file for loading into {@code manager} (which the caller owns), converting each tensor to
     * {@code computeType} as it is read.
     *
     * @param computeType float32, float16, or bfloat16 (see {@link #matmulType})
     * @throws ModelFormatException when the file is not a valid safetensors file
     */
    public static WeightLoader open(Path weightsFile, NDManager manager, DataType computeType) {
        return new WeightLoader(TensorSource.of(SafetensorsFile.open(weightsFile)), manager, computeType);
    }

    /**
     * Loads from {@code source} into {@code manager} (which the caller owns), converting each tensor to
     * {@code computeType} as it is read; closing the loader closes the source.
     *
     * @param computeType float32, float16, or bfloat16 (see {@link #matmulType})
     */
    public static WeightLoader open(TensorSource source, NDManager manager, DataType computeType) {
        return new WeightLoader(source, manager, computeType);
    }

    /**
     * A loader that reads no file: every {@link #load} returns a zero stand-in of the requested shape and is
     * remembered for {@link #requestedShapes}; {@link #hasPrefix} is false (the current diffusers names are chosen)
     * and {@link #finish} checks nothing.
     *
     * @param manager where the stand-ins and constants go (the caller owns and closes it)
     */
    public static WeightLoader recording(NDManager manager) {
        return new WeightLoader(null, manager, DataType.FLOAT32);
    }

    /** The type {@link #load} returns parameters in, and the activations' type. */
    public DataType computeType() {
        return computeType;
    }

    /**
     * The type convolution and linear layers compute in: bfloat16 for a part opened with it, whose layers convert
     * the float32 matrices {@link #load} returns (see {@code nn.Bf16Kernels}); else the compute type.
     */
    public DataType matmulType() {
        return matmulType;
    }

    /** True for a {@linkplain #recording recording} loader, which hands out stand-ins and reads no file. */
    public boolean isRecording() {
        return file == null;
    }

    /** The file being read, or {@code null} for a {@linkplain #recording recording} loader. */
    public Path file() {
        return file == null ? null : file.path();
    }

    /**
     * Every parameter asked for so far, in the order asked: its key and the shape the configuration implies.
     *
     * @return a new unmodifiable map of new arrays
     */
    public Map<String, long[]> requestedShapes() {
        Map<String, long[]> copy = new LinkedHashMap<>();
        requested.forEach((key, shape) -> copy.put(key, shape.clone()));
        return Collections.unmodifiableMap(copy);
    }

    /** True when some tensor key starts with {@code prefix} (never for a recording loader). */
    public boolean hasPrefix(String prefix) {
        if (file == null) {
            return false;
        }
        for (String name : file.names()) {
            if (name.startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Loads one parameter in the {@linkplain #computeType compute type}.
     *
     * @param key   the exact key, e.g. {@code down_blocks.0.resnets.0.conv1.weight}
     * @param shape the shape the configuration implies
     * @return the parameter, attached to the manager; a zero stand-in of {@code shape} when it is missing or
     *         mis-shaped (reported by {@link #finish})
     */
    public NDArray load(String key, long... shape) {
        return load(key, shape, computeType);
    }

    /** Loads one parameter as float32 whatever the compute type (the affine parameters of a norm). */
    public NDArray loadFloat32(String key, long... shape) {
        return load(key, shape, DataType.FLOAT32);
    }

    private NDArray load(String key, long[] shape, DataType type) {
        requested.put(key, shape.clone());
        if (file == null) {
            return standIn(shape);
        }
        if (!file.contains(key)) {
            missing.add("'" + key + "' " + Arrays.toString(shape));
            if (firstMissing == null) {
                firstMissing = key;
            }
            return standIn(shape);
        }
        return read(key, shape, type);
    }

    /**
     * A float32 scalar in the weights' manager for a constant factor of the computation (an attention scale):
     * see {@link dev.suppress.djl.nn.Tensors#scalar} for why the {@code Number} overloads of NDArray are avoided.
     */
    public NDArray constant(double value) {
        return manager.create((float) value);
    }

    /** Marks a tensor the model does not use but that files may carry (a saved buffer), so it is not unexpected. */
    public void ignoreIfPresent(String key) {
        consumed.add(key);
    }

    private NDArray read(String key, long[] shape, DataType type) {
        consumed.add(key);
        TensorInfo info = file.info(key);
        if (!Arrays.equals(info.shape(), shape)) {
            misShaped.add("'" + key + "' is " + Arrays.toString(info.shape()) + ", expected " + Arrays.toString(shape));
            return standIn(shape);
        }
        NDArray view;
        ByteBuffer mapped = null;
        switch (info.dtype()) {
            case F32, F16, F64 -> {
                mapped = file.rawBytes(key);
                DataType stored = info.dtype() == SafetensorsDType.F32 ? DataType.FLOAT32
                        : info.dtype() == SafetensorsDType.F16 ? DataType.FLOAT16 : DataType.FLOAT64;
                // a half-precision part copies every tensor (to bfloat16 or float16), so nothing may alias the map
                view = copiesEverything() ? owned(wrap(mapped, shape, stored)) : wrap(mapped, shape, stored);
            }
            // DJL 0.36 aborts the JVM when it wraps bfloat16 memory, so convert in Java (exact: a bfloat16 is the
            // upper half of a float32), then move into memory libtorch owns
            case BF16 -> view = owned(manager.create(FloatBuffer.wrap(file.floats(key)), new Shape(shape)));
            default -> {
                wrongType.add("'" + key + "' is " + info.dtype());
                return standIn(shape);
            }
        }
        try {
            if (view.getDataType() == type) {
                // on a GPU the array is already a copy that libtorch owns; on the CPU it aliases the mapped file (or
                // is libtorch's copy of an unaligned span or of widened BF16), and the array keeps the mapping
                // reachable, so the weights are the file's pages themselves: no second copy (SD 1.5's F32 UNet:
                // 3.4 GB instead of 6.7 GB resident after loading)
                return view;
            }
            try {
                // convert into memory libtorch owns, in the compute type (the only copy kept)
                return view.toType(type, true);
            } finally {
                view.close();
            }
        } finally {
            if (mapped != null && copiesEverything()) {
                // copied: the file's pages need not stay resident until the buffer is collected
                MappedPages.release(mapped);
            }
        }
    }

    /** True when no parameter aliases the mapped file: a half-precision part, which converts every matrix. */
    private boolean copiesEverything() {
        return matmulType != DataType.FLOAT32;
    }

    /** The tensor's bytes as an array of {@code type} over the mapped file (a copy on a GPU). */
    private NDArray wrap(ByteBuffer bytes, long[] shape, DataType type) {
        if (bytes.alignmentOffset(0, type.getNumOfBytes()) != 0) {
            // libtorch reads elements in place; give it a naturally aligned copy of an unaligned span
            ByteBuffer aligned = ByteBuffer.allocateDirect(bytes.capacity()).order(ByteOrder.LITTLE_ENDIAN);
            aligned.put(bytes.duplicate()).flip();
            return owned(manager.create(aligned, new Shape(shape), type));
        }
        return manager.create(bytes, new Shape(shape), type);
    }

    /**
     * A copy of {@code direct} in memory libtorch owns, {@code direct} closed. An array made from a Java direct
     * buffer keeps the buffer, and Java caps all direct buffers together at {@code -XX:MaxDirectMemorySize} (by
     * default the heap's {@code -Xmx}): kept, the widened copies of a BF16 model would need that cap to hold every
     * weight in float32 (SDXL: 14 GB), and a smaller one ends the load in an {@link OutOfMemoryError}. Copied, the
     * cap bounds one tensor at a time; the buffer is freed once unreachable (Java collects to make room).
     */
    private static NDArray owned(NDArray direct) {
        try {
            return direct.duplicate();
        } finally {
            direct.close();
        }
    }

    private NDArray standIn(long[] shape) {
        if (zero == null) {
            zero = manager.zeros(new Shape(), DataType.FLOAT32);
        }
        return zero.broadcast(new Shape(shape));
    }

    /**
     * Checks that every tensor was asked for and found with the right shape and type.
     *
     * @param modelName       what was built, for the message ({@code "UNet2DConditionModel of unet/config.json"})
     * @param foreignPrefixes key prefixes that belong to another part loaded from the same file (the VAE encoder's
     *                        keys when loading its decoder); they are neither loaded nor unexpected
     * @throws ModelFormatException listing every problem
     */
    public void finish(String modelName, Collection<String> foreignPrefixes) {
        if (file == null) {
            return;
        }
        List<String> unexpected = new ArrayList<>();
        for (String name : file.names()) {
            if (!consumed.contains(name) && foreignPrefixes.stream().noneMatch(name::startsWith)) {
                unexpected.add("'" + name + "' " + Arrays.toString(file.info(name).shape()));
            }
        }
        if (missing.isEmpty() && misShaped.isEmpty() && wrongType.isEmpty() && unexpected.isEmpty()) {
            return;
        }
        StringBuilder message = new StringBuilder(displayName).append(" does not hold the ").append(modelName)
                .append(" (").append(file.names().size()).append(" tensors in the file)");
        appendProblems(message, missing, "missing tensor");
        if (firstMissing != null) {
            message.append(" [").append(nearby(firstMissing)).append("]");
        }
        appendProblems(message, misShaped, "tensor of the wrong shape");
        appendProblems(message, wrongType, "tensor of a non-float dtype");
        appendProblems(message, unexpected, "unexpected tensor");
        throw new ModelFormatException(file.path(), message.toString());
    }

    private static void appendProblems(StringBuilder message, List<String> problems, String what) {
        if (problems.isEmpty()) {
            return;
        }
        message.append("; ").append(problems.size()).append(' ').append(what).append(problems.size() == 1 ? "" : "s")
                .append(": ");
        message.append(String.join(", ", problems.subList(0, Math.min(LISTED, problems.size()))));
        if (problems.size() > LISTED) {
            message.append(", ... (").append(problems.size() - LISTED).append(" more)");
        }
    }

    /** Where the first missing key's neighbours are: the deepest prefix of it that the file has tensors under. */
    private String nearby(String key) {
        String prefix = key;
        while (true) {
            int dot = prefix.lastIndexOf('.');
            if (dot < 0) {
                return "the file has no tensor sharing a prefix with '" + key + "'";
            }
            String parent = prefix.substring(0, dot);
            int count = 0;
            for (String name : file.names()) {
                if (name.startsWith(parent + ".")) {
                    count++;
                }
            }
            if (count > 0) {
                return "the file has " + count + " tensors under '" + parent + ".'" + (prefix.equals(key) ? ""
                        : ", none under '" + prefix + ".'");
            }
            prefix = parent;
        }
    }

    /** Closes the file (the loaded parameters live on in the manager). */
    @Override
    public void close() {
        if (file != null) {
            file.close();
        }
    }
}
