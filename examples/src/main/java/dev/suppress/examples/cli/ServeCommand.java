package dev.suppress.examples.cli;

import dev.suppress.core.Suppressor;
import dev.suppress.server.SuppressServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code suppress serve}: loads the model once and serves the HTTP API and web page of
 * {@link SuppressServer} until the process is stopped (Ctrl-C).
 */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Loads the model once and serves a web page (http://127.0.0.1:7860/ by default) and a JSON "
                + "API for generating and editing with suppression; jobs run one at a time from a queue.",
                "Stop it with Ctrl-C."})
final class ServeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--host", paramLabel = "ADDRESS", defaultValue = SuppressServer.DEFAULT_HOST,
            description = "The address to listen on (default ${DEFAULT-VALUE}: this machine only; 0.0.0.0 for every "
                    + "interface).")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "" + SuppressServer.DEFAULT_PORT,
            description = "The port (default ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "serve-out",
            description = "Folder for the result images, one subfolder per job (default: serve-out).")
    Path out;

    @Option(names = "--queue-size", paramLabel = "N", defaultValue = "" + SuppressServer.DEFAULT_QUEUE_CAPACITY,
            description = "The most jobs waiting or running at once; one more is refused with 429 (default "
                    + "${DEFAULT-VALUE}).")
    int queueSize;

    @Option(names = "--max-upload-mb", paramLabel = "MB", defaultValue = "20",
            description = "The largest photo an edit accepts, in MiB (default ${DEFAULT-VALUE}).")
    int maxUploadMb;

    /** Serves until the process is stopped (the shutdown hook closes the server) or this thread is interrupted. */
    @Override
    public Integer call() {
        PrintWriter stderr = spec.commandLine().getErr();
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        }
        if (queueSize < 1) {
            throw new IllegalArgumentException("--queue-size must be at least 1, got " + queueSize);
        }
        if (maxUploadMb < 1) {
            throw new IllegalArgumentException("--max-upload-mb must be at least 1, got " + maxUploadMb);
        }
        Path folder = modelOptions.modelFolder();
        if (modelOptions.usesDefaultModel()) {
            stderr.println("No --model given: serving the built-in tiny model in " + folder + ".");
            stderr.println("Its weights are RANDOM, so every image will be noise: it only shows that everything "
                    + "runs.");
            stderr.flush();
        }
        long loadStarted = System.nanoTime();
        boolean interrupted = false;
        try (Suppressor suppressor = modelOptions.open(folder, null)) {
            stderr.printf(Locale.ROOT, "loaded %s (%s on %s, %s) in %.1f s%n", folder, suppressor.backendName(),
                    modelOptions.device, suppressor.precision().label(),
                    ConsoleProgress.seconds(System.nanoTime() - loadStarted));
            SuppressServer.Builder builder = SuppressServer.builder(suppressor, folder).host(host).port(port)
                    .outputFolder(out).queueCapacity(queueSize).maxUploadBytes(maxUploadMb * 1024L * 1024L)
                    .builtInModel(modelOptions.usesDefaultModel());
            if (modelOptions.tokenizer != null) {
                builder.tokenizerFolder(modelOptions.tokenizer);
            }
            try (SuppressServer server = builder.start()) {
                Thread hook = new Thread(server::close, "suppress-serve-shutdown");
                Runtime.getRuntime().addShutdownHook(hook);
                spec.commandLine().getOut().println("Serving on " + server.uri() + " (images in "
                        + server.outputFolder() + "); stop with Ctrl-C");
                spec.commandLine().getOut().flush();
                try {
                    server.awaitClose();
                } catch (InterruptedException e) {
                    // stopped by its caller (an embedding program, a test): close below, as Ctrl-C would; the
                    // interrupt is restored only afterwards, since Jetty's stop would throw on an interrupted thread
                    interrupted = true;
                } finally {
                    removeHook(hook);
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // the JVM is already shutting down: the hook is running or has run
        }
    }
}
