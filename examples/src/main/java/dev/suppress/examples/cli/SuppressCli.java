package dev.suppress.examples.cli;

import dev.suppress.core.io.ModelFormatException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * The {@code suppress} command line: {@code java -jar examples/target/suppress.jar generate --prompt "a man without
 * glasses" --suppress glasses}.
 *
 * <p>Exit codes: 0 on success, {@value #BAD_INPUT} for bad input (an unknown or malformed option, a word that is not
 * in the prompt, a missing or unreadable model folder or file), {@value #FAILURE} for any other failure. Either way
 * the error is one line on standard error; {@code --verbose} adds the stack trace.
 */
@Command(name = "suppress", mixinStandardHelpOptions = true, versionProvider = SuppressCli.Version.class,
        subcommands = {GenerateCommand.class, EditCommand.class, InvertCommand.class, ServeCommand.class,
                MakeModelCommand.class, CommandLine.HelpCommand.class},
        description = "Stable Diffusion that suppresses what the prompt names but you do not want.")
public final class SuppressCli implements Callable<Integer> {

    /** Exit code of bad input. */
    public static final int BAD_INPUT = 2;

    /** Exit code of any other failure. */
    public static final int FAILURE = 1;

    @Spec
    CommandSpec spec;

    /** Runs the command line and exits with its code. */
    public static void main(String[] args) {
        // nothing is downloaded: libtorch comes from the jars in lib/ (DJL would otherwise fetch a missing one)
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("java.awt.headless", "true");
        // before libtorch loads: its thread pool then sleeps rather than spins when other processes share the cores
        dev.suppress.djl.nn.NativeMemory.passiveThreadWaits();
        System.exit(commandLine().execute(args));
    }

    /** The command line with its error handling, ready for {@link CommandLine#execute}. */
    public static CommandLine commandLine() {
        return new CommandLine(new SuppressCli())
                .setParameterExceptionHandler(SuppressCli::reportUsageError)
                .setExecutionExceptionHandler(SuppressCli::reportFailure);
    }

    /** Without a subcommand: the usage, as a usage error. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return BAD_INPUT;
    }

    private static int reportUsageError(ParameterException error, String[] args) {
        CommandLine command = error.getCommandLine();
        PrintWriter err = command.getErr();
        err.println("error: " + oneLine(error.getMessage()) + " (see '" + command.getCommandSpec().qualifiedName()
                + " --help')");
        err.flush();
        return BAD_INPUT;
    }

    private static int reportFailure(Exception error, CommandLine command, ParseResult parseResult) {
        PrintWriter err = command.getErr();
        boolean verbose = command.getCommand() instanceof SuppressCommand subcommand && subcommand.verbose()
                || command.getCommand() instanceof InvertCommand invert && invert.verbose;
        if (verbose) {
            error.printStackTrace(err);
        }
        boolean badInput = error instanceof IllegalArgumentException || error instanceof ModelFormatException;
        err.println("error: " + describe(error));
        err.flush();
        return badInput ? BAD_INPUT : FAILURE;
    }

    /** The message, with the cause's when it adds something, on one line. */
    private static String describe(Throwable error) {
        String message = error.getMessage() != null ? error.getMessage() : error.getClass().getSimpleName();
        Throwable cause = error.getCause();
        if (cause != null && cause.getMessage() != null && !message.contains(cause.getMessage())) {
            message += ": " + cause.getMessage();
        }
        return oneLine(message);
    }

    private static String oneLine(String text) {
        return text.strip().replaceAll("\\s*\\R\\s*", " ");
    }

    /** The version from the jar's manifest. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String version = SuppressCli.class.getPackage().getImplementationVersion();
            return new String[] {"suppress " + (version != null ? version : "(not from a jar)")};
        }
    }
}
