package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Output paths are checked before any work (exit 2, one line naming the option, the path and the
 * reason, nothing printed or written), and sizes accept what the help says.
 */
class OutputPathsAndSizesTest {
    private static final String[] SHARE = {"share", "--domain", "apple-dart:t8020", "--size", "20K"};

    @Test
    void dumpIntoAnExistingFileIsRefusedBeforeTheLayoutIsPrinted(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("taken"), "keep me");
        assertRefused(
                dir, run(with(SHARE, "--dump", file.toString())), "--dump '" + file + "': exists and is not a folder");
        assertThat(Files.readString(file)).isEqualTo("keep me");
    }

    @Test
    void svgInAMissingFolderNamesThePathAndTheMissingFolder(@TempDir Path dir) {
        Path svg = dir.resolve("nonexistent").resolve("x.svg");
        assertRefused(
                dir,
                run(with(SHARE, "--svg", svg.toString())),
                "--svg '" + svg + "': folder " + svg.getParent() + " does not exist");
    }

    @Test
    void emptyOutputPathsAreRefused(@TempDir Path dir) {
        assertRefused(dir, run(with(SHARE, "--svg", "")), "--svg '': empty path");
        assertRefused(dir, run(with(SHARE, "--dump", "")), "--dump '': empty path");
    }

    @Test
    void svgOntoAFolderIsRefused(@TempDir Path dir) {
        assertRefused(dir, run(with(SHARE, "--svg", dir.toString())), "--svg '" + dir + "': is a folder");
    }

    @Test
    void dumpWithoutADartDomainIsRefusedAndCreatesNoFolder(@TempDir Path dir) {
        Path dumps = dir.resolve("dumps");
        assertRefused(
                dir,
                run("share", "--domain", "generic:lpae-4k", "--size", "4K", "--dump", dumps.toString()),
                "--dump '" + dumps + "': only DART instances have dumps and no --domain is apple-dart:VARIANT");
    }

    @Test
    void dumpCreatesAMissingFolderAndSvgOverwritesAnExistingFile(@TempDir Path dir) throws Exception {
        Path svg = Files.writeString(dir.resolve("old.svg"), "old");
        Run r = run(with(SHARE, "--dump", dir.resolve("new").toString(), "--svg", svg.toString()));
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(dir.resolve("new/apple-dart-t8020-0.json")).isRegularFile();
        assertThat(Files.readString(svg)).startsWith("<svg");
    }

    @Test
    void memoryUpToFourTebibytesIsAcceptedAsTheHelpSays() {
        Run r = run("share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "4T");
        assertThat(r.err()).doesNotContain("--memory");
        assertThat(r.exit()).as(r.err()).isZero();
        Run tooBig = run("share", "--domain", "generic:lpae-4k", "--size", "4K", "--memory", "0x400_0000_1000");
        assertThat(tooBig.exit()).isEqualTo(2);
        assertThat(tooBig.err())
                .contains("at most 4T (4 TiB (0x400_0000_0000))")
                .contains("0x400_0000_1000");
    }

    @Test
    void hexadecimalSizesWithAndWithoutASuffixAreAccepted() {
        assertThat(run("share", "--domain", "generic:lpae-4k", "--size", "0x5000")
                        .out())
                .contains("buffer 20 KiB");
        assertThat(run("share", "--domain", "generic:lpae-4k", "--size", "0x14K")
                        .out())
                .contains("buffer 20 KiB");
        assertThat(run("share", "--domain", "generic:lpae-4k", "--size", "0x5_000")
                        .out())
                .contains("buffer 20 KiB");
    }

    @Test
    void aSizeLargerThanTheMemoryIsABadArgumentNamingBoth() {
        Run r = run("share", "--domain", "generic:lpae-4k", "--size", "8G");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err().strip())
                .isEqualTo("dmashare: --size 8 GiB (0x2_0000_0000) does not fit --memory 4 GiB (0x1_0000_0000)");
    }

    /** The whole memory is not refused by the command line's own check; the library decides. */
    @Test
    void aSizeEqualToTheMemoryIsLeftToTheLibrary() {
        Run r = run("share", "--domain", "generic:lpae-4k", "--size", "4G");
        assertThat(r.err()).doesNotStartWith("dmashare: --size");
        assertThat(r.exit()).as(r.err()).isNotEqualTo(2);
    }

    @Test
    void aSizeThatIsNotASizeSaysWhatIsAccepted() {
        Run r = run("share", "--domain", "generic:lpae-4k", "--size", "12Q");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err())
                .contains("'12Q' is not a size")
                .contains("0x-hexadecimal")
                .contains("K, M, G or T");
    }

    private static String[] with(String[] base, String... more) {
        return Stream.concat(Stream.of(base), Stream.of(more)).toArray(String[]::new);
    }

    private static void assertRefused(Path dir, Run r, String message) {
        assertThat(r.exit()).as(r.err()).isEqualTo(2);
        assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
        assertThat(r.err().strip()).startsWith("dmashare: " + message);
        assertThat(r.out()).as("nothing printed").isEmpty();
        assertThat(dir.resolve("dumps")).doesNotExist();
        assertThat(dir.resolve("new")).doesNotExist();
    }
}
