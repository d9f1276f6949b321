package dev.suppress.examples.cli;

import dev.suppress.examples.tiny.SyntheticModel;
import dev.suppress.examples.tiny.TinyModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code suppress make-model}: a full-size Stable Diffusion folder with seeded random weights. */
@Command(name = "make-model", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Writes a diffusers folder with the published configuration of Stable Diffusion 1.5 or 2.1 "
                + "(base, 512²) and seeded random weights, to measure speed and memory at real size without a "
                + "download. It draws noise. SD 1.5 in F32 takes 4.3 GB of disk.",
                "Prints the folder; pass it to generate --model."})
final class MakeModelCommand implements Callable<Integer> {

    /** The architectures, as the option spells them. */
    enum ArchName {
        sd15(SyntheticModel.Arch.SD15), sd21(SyntheticModel.Arch.SD21);

        final SyntheticModel.Arch arch;

        ArchName(SyntheticModel.Arch arch) {
            this.arch = arch;
        }
    }

    /** The weight types, as the option spells them. */
    enum DtypeName {
        f32, f16, bf16
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--arch", paramLabel = "sd15|sd21", defaultValue = "sd15",
            description = "Architecture (default: ${DEFAULT-VALUE}).")
    ArchName arch;

    @Option(names = "--dtype", paramLabel = "f32|f16|bf16", defaultValue = "f32",
            description = "Element type of the weight files (default: ${DEFAULT-VALUE}).")
    DtypeName dtype;

    @Option(names = "--fp16-variant", description = "Also write .fp16.safetensors variant files (F16).")
    boolean fp16Variant;

    @Option(names = "--out", paramLabel = "DIR",
            description = "The folder to write (default: <cache>/<arch>-<dtype>-random-v1 in ~/.cache/suppress). "
                    + "A complete model already there is kept.")
    Path out;

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
        stdout.println(written);
        stdout.flush();
        return 0;
    }
}
