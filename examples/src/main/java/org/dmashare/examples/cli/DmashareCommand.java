package org.dmashare.examples.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.dmashare.DmaShareException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.UsageMessageSpec;

/**
 * The {@code dmashare} command line. Without a subcommand it runs {@code demo}.
 *
 * <p>Exit codes: 0 success, 1 a library or file-system error (one line on stderr), 2 bad
 * arguments, including a bad {@code --plugin-path} entry or a plug-in that cannot be loaded (one
 * line on stderr naming the problem). {@code help COMMAND} and {@code --help} on every command
 * print the usage; {@code --version} prints the version.
 */
@Command(
        name = "dmashare",
        mixinStandardHelpOptions = true,
        versionProvider = DmashareCommand.Version.class,
        description = "Safe cross-device DMA buffer sharing over modelled IOMMUs. Without a command, runs demo.",
        subcommands = {DemoCommand.class, BackendsCommand.class, ShareCommand.class, CommandLine.HelpCommand.class})
public final class DmashareCommand implements Callable<Integer> {

    /** Creates the command; picocli calls this. */
    public DmashareCommand() {}

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
     * arguments, one line and exit 1 for library and file-system errors.
     *
     * @return the configured command line
     */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new DmashareCommand());
        CommandLine share = cli.getSubcommands().get("share");
        share.getHelpSectionMap()
                .put(
                        UsageMessageSpec.SECTION_KEY_FOOTER,
                        help -> ((ShareCommand) share.getCommand()).domainsHelp() + help.footer());
        cli.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("dmashare: " + ex.getMessage());
            err.flush();
            return 2;
        });
        cli.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            PrintWriter err = commandLine.getErr();
            Throwable cause = ex instanceof UncheckedIOException u ? u.getCause() : ex;
            String line = cause instanceof FileSystemException fs
                    ? "cannot write " + OutputPaths.describe(fs)
                    : cause instanceof IOException io
                            ? "cannot write: " + io.getMessage()
                            : (cause instanceof DmaShareException
                                            ? cause.getClass().getSimpleName()
                                            : "error") + ": " + cause.getMessage();
            err.println("dmashare: " + line);
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

    /** {@code --version}: the project version this jar was built from, and the Java running it. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() throws IOException {
            Properties p = new Properties();
            try (InputStream in = Version.class.getResourceAsStream("version.properties")) {
                if (in != null) {
                    p.load(in);
                }
            }
            return new String[] {
                "dmashare " + p.getProperty("version", "(unknown version)") + " (Java " + Runtime.version() + ", "
                        + System.getProperty("java.vm.name") + ")"
            };
        }
    }
}
