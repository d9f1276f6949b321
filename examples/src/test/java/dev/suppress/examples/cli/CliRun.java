package dev.suppress.examples.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * One run of the command line in this JVM with its standard output and error captured (nothing reaches the test's
 * console).
 *
 * @param exitCode what {@code main} would exit with
 * @param out      what it printed on standard output
 * @param err      what it printed on standard error
 */
record CliRun(int exitCode, String out, String err) {

    static CliRun of(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine commandLine = SuppressCli.commandLine()
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true));
        int exitCode = commandLine.execute(args);
        return new CliRun(exitCode, out.toString(), err.toString());
    }

    /** The standard output and error, for failure messages. */
    String transcript() {
        return "exit code " + exitCode + "\n--- stdout\n" + out + "--- stderr\n" + err;
    }
}
