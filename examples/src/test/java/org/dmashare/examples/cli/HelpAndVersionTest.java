package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** {@code help}, {@code --help} on every command, {@code --version}, and help text wrapped at words. */
class HelpAndVersionTest {
    private static final List<String> COMMANDS = List.of("demo", "backends", "share");

    @Test
    void everyCommandHasHelpAndTheHelpCommandPrintsTheSame() {
        for (String command : COMMANDS) {
            Run option = run(command, "--help");
            assertThat(option.exit()).as(command).isZero();
            assertThat(option.out()).as(command).startsWith("Usage: dmashare " + command);
            assertThat(run("help", command).out()).as("help " + command).isEqualTo(option.out());
        }
        Run top = run("help");
        assertThat(top.exit()).isZero();
        assertThat(top.out())
                .startsWith("Usage: dmashare")
                .contains("demo")
                .contains("backends")
                .contains("share")
                .contains("help");
        assertThat(run("--help").out()).isEqualTo(top.out());
    }

    @Test
    void versionNamesTheProjectVersionOnEveryCommand() {
        String version = run("--version").out().strip();
        assertThat(version).matches("dmashare \\d+\\.\\d+\\.\\d+(-SNAPSHOT)? \\(Java .*\\)");
        for (String command : COMMANDS) {
            assertThat(run(command, "--version").out().strip()).as(command).isEqualTo(version);
        }
    }

    @Test
    void shareHelpListsTheBackendsAndVariantsFoundAndTheSizeFormat() {
        String help = run("share", "--help").out();
        assertThat(help)
                .contains("  apple-dart: t8020, t6000, t8110")
                .contains("  generic: lpae-4k, lpae-16k, lpae-64k")
                .contains("  flat: flat-64k")
                .contains("0x-hexadecimal")
                .contains("4T");
    }

    /** Every sentence of every description reappears whole once the help's line breaks are undone. */
    @Test
    void helpTextWrapsAtWordsWithinEightyColumns() {
        CommandLine cli = DmashareCommand.commandLine();
        for (String command : COMMANDS) {
            String help = run(command, "--help").out();
            assertThat(help.lines())
                    .as(command)
                    .allSatisfy(l -> assertThat(l.length()).isLessThanOrEqualTo(80));
            String joined = normalize(help);
            CommandSpec spec = cli.getSubcommands().get(command).getCommandSpec();
            List<String> texts = new ArrayList<>(List.of(spec.usageMessage().description()));
            for (OptionSpec o : spec.options()) {
                texts.addAll(List.of(o.description()));
            }
            for (String text : texts) {
                if (!text.contains("${")) {
                    assertThat(joined)
                            .as("%s help keeps '%s' whole", command, text)
                            .contains(normalize(text));
                }
            }
        }
    }

    private static String normalize(String s) {
        return s.replaceAll("\\s+", " ");
    }
}
