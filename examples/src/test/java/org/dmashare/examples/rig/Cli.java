package org.dmashare.examples.rig;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import org.dmashare.examples.cli.DmashareCommand;
import picocli.CommandLine;

/** Runs the {@code dmashare} command line in-process and captures what it prints. */
public final class Cli {
    private Cli() {}

    /**
     * One run of the command line.
     *
     * @param exit its exit code
     * @param out what it printed on standard output
     * @param err what it printed on standard error
     */
    public record Run(int exit, String out, String err) {}

    /**
     * Runs {@code dmashare args...}.
     *
     * @param args the arguments
     * @return exit code and output
     */
    public static Run run(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            CommandLine cli = DmashareCommand.commandLine();
            cli.setErr(new PrintWriter(err, true));
            int exit = cli.execute(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(oldOut);
        }
    }
}
