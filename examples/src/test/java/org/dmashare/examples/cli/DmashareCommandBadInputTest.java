package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input on the command line, table-driven: every case exits with 2, prints one line on stderr
 * and nothing on stdout, and writes no file. The library's own bad-input tables are in the
 * integration tests ({@code org.dmashare.it.reliability.BadInputTest}).
 */
class DmashareCommandBadInputTest {
    private static int cliCases;

    /** Each bad command line, with a readable name. */
    static Stream<Arguments> cliCases() {
        List<String[]> cases = new ArrayList<>(List.of(
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "0"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", ""},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4KK"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "99999999999999999999"},
                new String[] {"share", "--domain", "generic:lpae-4k"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size"},
                new String[] {"share", "--domain", "apple-dart:t9999", "--size", "4K"},
                new String[] {"share", "--domain", ":lpae-4k", "--size", "4K"},
                new String[] {"share", "--domain", "generic:", "--size", "4K"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "0"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "8T"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "3K"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "5000G"},
                new String[] {
                    "share", "--domain", "generic:lpae-4k", "--size", "4K", "--page-size", "16K", "--memory", "20K"
                },
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--page-size", "0"},
                new String[] {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--frobnicate"},
                new String[] {
                    "share",
                    "--domain",
                    "generic:lpae-4k",
                    "--domain",
                    "generic:lpae-4k",
                    "--size",
                    "4K",
                    "--identical-iova=maybe"
                },
                new String[] {"demo", "--profile", "NOPE"},
                new String[] {"demo", "--page-size", "8K"},
                new String[] {"demo", "--frobnicate"},
                new String[] {"backends", "extra"},
                new String[] {"--frobnicate"}));
        return cases.stream().map(a -> Arguments.of(String.join(" ", a), a));
    }

    @ParameterizedTest(name = "dmashare {0}")
    @MethodSource("cliCases")
    void badCommandLineExitsWithTwoAndOneLineAndWritesNothing(String line, String[] args, @TempDir Path dir)
            throws Exception {
        String[] withOutputs = new String[args.length + (args.length > 0 && args[0].equals("share") ? 4 : 0)];
        System.arraycopy(args, 0, withOutputs, 0, args.length);
        if (withOutputs.length > args.length) {
            withOutputs[args.length] = "--svg";
            withOutputs[args.length + 1] = dir.resolve("out.svg").toString();
            withOutputs[args.length + 2] = "--dump";
            withOutputs[args.length + 3] = dir.resolve("dumps").toString();
        }
        Run r = run(withOutputs);
        assertThat(r.exit())
                .as("exit code of dmashare %s (stderr: %s)", line, r.err())
                .isEqualTo(2);
        assertThat(r.err().strip().lines()).as("stderr of dmashare %s", line).hasSize(1);
        assertThat(r.out()).as("stdout of dmashare %s", line).isEmpty();
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files).as("files written by dmashare %s", line).isEmpty();
        }
        cliCases++;
    }

    @AfterAll
    static void summary() {
        System.out.println("[campaign] bad input (command line): " + cliCases
                + " command-line cases, each exiting with 2, one line on stderr, nothing written");
    }
}
