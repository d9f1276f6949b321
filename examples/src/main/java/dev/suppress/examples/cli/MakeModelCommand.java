package dev.suppress.examples.cli;

import dev.suppress.djl.singlefile.LdmArchitecture;
import dev.suppress.djl.singlefile.LdmCheckpointWriter;
import dev.suppress.examples.tiny.SyntheticModel;
import dev.suppress.examples.tiny.TinyModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code suppress make-model}: a full-size Stable Diffusion folder with seeded random weights. */
@Command(name = "make-model", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes a diffusers folder with the published configuration of Stable Diffusion 1.5, 2.1 "
                + "(base, 512²) or SDXL base 1.0 and seeded random weights, to measure speed and memory at real size "
                + "without a download. It draws noise. SD 1.5 in F32 takes 4.3 GB of disk, SDXL in BF16 6.9 GB.",
                "Prints the folder; pass it to generate --model. With --format single-file it also writes the "
                        + "model as one LDM-layout .safetensors file (as model hubs hand out) and prints that file; "
                        + "the folder stays, to pass as --config."})
final class MakeModelCommand implements Callable<Integer> {

    /** The architectures, as the option spells them. */
    enum ArchName {
        sd15(SyntheticModel.Arch.SD15), sd21(SyntheticModel.Arch.SD21), sdxl(SyntheticModel.Arch.SDXL);

        final SyntheticModel.Arch arch;

        ArchName(SyntheticModel.Arch arch) {
            this.arch = arch;
        }
    }

    /** The outputs, as the option spells them. */
    enum FormatName {
        folder, single_file;

        @Override
        public String toString() {
            return name().replace('_', '-');
        }
    }

    /** The weight types, as the option spells them. */
    enum DtypeName {
        f32, f16, bf16
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--arch", paramLabel = "sd15|sd21|sdxl", defaultValue = "sd15",
            description = "Architecture (default: ${DEFAULT-VALUE}).")
    ArchName arch;

    @Option(names = "--dtype", paramLabel = "f32|f16|bf16", defaultValue = "f32",
            description = "Element type of the weight files (default: ${DEFAULT-VALUE}).")
    DtypeName dtype;

    @Option(names = "--fp16-variant", description = "Also write .fp16.safetensors variant files (F16).")
    boolean fp16Variant;

    @Option(names = "--format", paramLabel = "folder|single-file", defaultValue = "folder",
            converter = FormatConverter.class,
            description = "folder: a diffusers folder; single-file: also the LDM-layout file <folder>.safetensors "
                    + "(default: ${DEFAULT-VALUE}).")
    FormatName format;

    @Option(names = "--out", paramLabel = "DIR",
            description = "The folder to write (default: <cache>/<arch>-<dtype>-random-v1 in ~/.cache/suppress). "
                    + "A complete model already there is kept.")
    Path out;

    /** Reads "single-file" as well as the constant's name. */
    static final class FormatConverter implements picocli.CommandLine.ITypeConverter<FormatName> {
        @Override
        public FormatName convert(String value) {
            for (FormatName name : FormatName.values()) {
                if (name.toString().equals(value) || name.name().equals(value)) {
                    return name;
                }
            }
            throw new picocli.CommandLine.TypeConversionException("expected folder or single-file, got '" + value
                    + "'");
        }
    }

    @Override
    public Integer call() {
        SyntheticModel.WeightType type = SyntheticModel.WeightType.valueOf(dtype.name().toUpperCase(Locale.ROOT));
        Path folder = out != null ? out : SyntheticModel.defaultFolder(TinyModel.defaultCacheRoot(), arch.arch, type);
        PrintWriter stdout = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        long started = System.nanoTime();
        Path written = SyntheticModel.ensure(folder, arch.arch, type, fp16Variant, file -> {
            err.println("wrote " + file);
            err.flush();
        });
        err.printf(Locale.ROOT, "model ready in %.1f s%n", (System.nanoTime() - started) / 1e9);
        err.flush();
        if (format == FormatName.single_file) {
            written = singleFile(written, err);
        }
        stdout.println(written);
        stdout.flush();
        return 0;
    }

    /**
     * {@code <folder>.safetensors} in the LDM layout (SDXL: Stability's {@code conditioner.embedders.0/1}), written
     * unless there already (it is derived from a complete folder, renamed into place when complete). SD 2.1 base gets a same-name {@code .yaml} saying epsilon
     * prediction, which the file's keys and shapes cannot show.
     */
    private Path singleFile(Path folder, PrintWriter err) {
        Path file = folder.resolveSibling(folder.getFileName() + ".safetensors");
        long started = System.nanoTime();
        if (!Files.isRegularFile(file)) {
            LdmCheckpointWriter.write(folder, file, switch (arch) {
                case sd15 -> LdmArchitecture.SD1;
                case sd21 -> LdmArchitecture.SD2;
                case sdxl -> LdmArchitecture.SDXL;
            });
        }
        if (arch == ArchName.sd21) {
            Path yaml = folder.resolveSibling(folder.getFileName() + ".yaml");
            try {
                Files.writeString(yaml, "# written by suppress make-model: SD 2.1 base predicts epsilon\n"
                        + "model:\n  params:\n    parameterization: \"eps\"\n");
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot write " + yaml, e);
            }
        }
        err.printf(Locale.ROOT, "single file ready in %.1f s (%.1f MB)%n", (System.nanoTime() - started) / 1e9,
                file.toFile().length() / 1e6);
        err.flush();
        return file;
    }
}
