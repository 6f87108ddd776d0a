package org.dmashare.examples.cli;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import org.dmashare.DmaShareException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code dmashare} command line. Without a subcommand it runs {@code demo}.
 *
 * <p>Exit codes: 0 success, 1 a library error (one line on stderr), 2 bad arguments (one line on
 * stderr naming the problem).
 */
@Command(name = "dmashare", mixinStandardHelpOptions = true, version = "dmashare 0.1.0",
        description = "Safe cross-device DMA buffer sharing over modelled IOMMUs.",
        subcommands = {DemoCommand.class, BackendsCommand.class, ShareCommand.class})
public final class DmashareCommand implements Callable<Integer> {

    /** Creates the command; picocli calls this. */
    public DmashareCommand() {
    }

    /**
     * Runs the default subcommand, {@code demo}.
     *
     * @return its exit code
     */
    @Override
    public Integer call() {
        return new CommandLine(new DemoCommand()).execute();
    }

    /**
     * Builds the command line with dmashare's error handling: one line and exit 2 for bad
     * arguments, one line and exit 1 for library errors.
     *
     * @return the configured command line
     */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new DmashareCommand());
        cli.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("dmashare: " + ex.getMessage());
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            String kind = ex instanceof DmaShareException ? ex.getClass().getSimpleName() : "error";
            err.println("dmashare: " + kind + ": " + ex.getMessage());
            err.flush();
            return 1;
        });
        return cli;
    }

    /**
     * Entry point.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
