package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.dmashare.dart.DartDump;
import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: output, JSON shape, SVG, and the exit codes for bad arguments and library errors. */
class DmashareCommandTest {

    @Test
    void backendsListsTheGenericVariantsWithGranulesAndPageSizes() {
        Run r = run("backends");
        assertThat(r.exit()).isZero();
        assertThat(r.out())
                .contains("lpae-4k")
                .contains("4K|2M|1G")
                .contains("lpae-64k")
                .contains("64K|512M");
    }

    @Test
    void sharePrintsLayoutAsJsonWithTheDocumentedFields() {
        Run r = run(
                "share",
                "--domain",
                "generic:lpae-4k",
                "--domain",
                "generic:lpae-16k",
                "--size",
                "20K",
                "--json",
                "--identical-iova");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .startsWith("{\"size\":20480,\"alignment\":16384,")
                .contains("\"blocks\":[{\"pa\":")
                .contains(
                        "\"iommu\":\"generic-lpae-4k-0\",\"backend\":\"generic\",\"variant\":\"lpae-4k\",\"sid\":0,\"iova\":")
                .contains("\"iommu\":\"generic-lpae-16k-1\"");
        String iova = r.out().replaceAll("(?s).*\"iova\":(\\d+)}].*", "$1");
        assertThat(r.out().split("\"iova\":" + iova, -1))
                .as("identical IOVA in both mappings")
                .hasSize(3);
    }

    @Test
    void shareWritesAnSvgDiagram(@TempDir Path dir) throws Exception {
        Path svg = dir.resolve("layout.svg");
        Run r = run(
                "share",
                "--domain",
                "generic:lpae-4k",
                "--domain",
                "generic:lpae-64k",
                "--size",
                "1M",
                "--svg",
                svg.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(Files.readString(svg))
                .startsWith("<svg")
                .contains("generic-lpae-64k-1")
                .contains("<path class=\"link\"");
    }

    @Test
    void shareAcrossDartFlatAndGenericWritesTheDartDumps(@TempDir Path dir) throws Exception {
        Run r = run(
                "share",
                "--domain",
                "apple-dart:t8020",
                "--domain",
                "flat:flat-64k",
                "--domain",
                "generic:lpae-4k",
                "--size",
                "20K",
                "--dump",
                dir.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("alignment 64 KiB")
                .contains("apple-dart-t8020-0")
                .contains("flat-flat-64k-1");
        String dump = Files.readString(dir.resolve("apple-dart-t8020-0.json"));
        assertThat(dump)
                .contains("\"variant\"")
                .contains("\"ttbr\"")
                .contains("\"tcr\"")
                .contains("\"memory\"");
        DartDump parsed = DartDump.fromJson(dump);
        assertThat(parsed.variant()).isEqualTo("t8020");
        assertThat(parsed.memory()).isNotEmpty();
        assertThat(Files.list(dir)).hasSize(1);
    }

    @Test
    void backendsListsEveryDiscoveredBackend() {
        assertThat(run("backends").out())
                .contains("apple-dart")
                .contains("t8110")
                .contains("flat-64k")
                .contains("generic");
    }

    @Test
    void badArgumentsPrintOneLineAndExitWithTwo() {
        for (String[] args : new String[][] {
            {"share", "--domain", "nope:x", "--size", "4K"},
            {"share", "--domain", "generic:lpae-99k", "--size", "4K"},
            {"share", "--domain", "generic", "--size", "4K"},
            {"share", "--domain", "generic:lpae-4k", "--size", "12Q"},
            {"share", "--domain", "generic:lpae-4k", "--size", "-4K"},
            {"share", "--size", "4K"},
            {"share", "--domain", "generic:lpae-4k", "--size", "4K", "--page-size", "8K"},
            {"frobnicate"}
        }) {
            Run r = run(args);
            assertThat(r.exit()).as(String.join(" ", args)).isEqualTo(2);
            assertThat(r.err().strip().lines()).as(String.join(" ", args)).hasSize(1);
        }
    }

    @Test
    void libraryErrorsPrintOneLineAndExitWithOne() {
        Run r = run("share", "--domain", "flat:flat-64k", "--size", "1G"); // larger than flat's 512 MiB IOVA space
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).contains("InvalidArgumentException");
    }

    @Test
    void demoIsTheDefaultCommandAndPrintsOneRowPerBufferAndPath() {
        Run r = run();
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("DCP IOVA").contains("PIODMA IOVA").contains("over-exposed");
        assertThat(r.out().lines().filter(l -> l.startsWith("legacy") || l.startsWith("migrated")))
                .hasSize(5 * 4);
    }

    @Test
    void demoPrintsEveryErrorWholeBelowTheTable() {
        String text = run().out();
        String json = run("demo", "--json").out();
        assertThat(text).doesNotContain("…");
        Matcher errors = Pattern.compile("\"error\":\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(json);
        int count = 0;
        while (errors.find()) {
            assertThat(text)
                    .contains("] " + errors.group(1).replace("\\\"", "\"").replace("\\\\", "\\") + "\n");
            count++;
        }
        assertThat(count).as("errors in the JSON").isGreaterThan(4);
    }

    @Test
    void cellsThatDoNotApplySayDashNeverNo() {
        List<String> upstream = run("demo", "--profile", "UPSTREAM")
                .out()
                .lines()
                .filter(l -> l.startsWith("legacy"))
                .toList();
        assertThat(upstream)
                .hasSize(4)
                .allSatisfy(l -> assertThat(l).matches("legacy +UPSTREAM +\\d+ KiB +- +- +- +- +- +\\[1\\]"));
        List<String> halfMapped = run("demo", "--profile", "ASAHI_GRANULE")
                .out()
                .lines()
                .filter(l -> l.startsWith("legacy"))
                .toList();
        assertThat(halfMapped)
                .allSatisfy(l -> assertThat(l)
                        .matches("legacy +ASAHI_GRANULE +\\d+ KiB +0x[0-9a-f_]+ +- +- +(0|\\d+ KiB) +- +\\[\\d\\]"));
    }

    /** The README's excerpt of the demo is what the demo prints, row for row, so it stays true. */
    @Test
    void theReadmeDemoExcerptIsWhatTheDemoPrints() throws Exception {
        List<String> printed = run().out().lines().map(String::stripTrailing).toList();
        List<String> readme = Files.readAllLines(Path.of("..", "README.md"));
        int header = readme.indexOf(readme.stream()
                .filter(l -> l.startsWith("path      profile"))
                .findFirst()
                .orElseThrow(() -> new AssertionError("README has no demo excerpt")));
        List<String> excerpt = readme.subList(header, readme.size()).stream()
                .takeWhile(l -> !l.startsWith("```"))
                .map(String::stripTrailing)
                .toList();
        assertThat(excerpt).hasSizeGreaterThan(3);
        assertThat(printed).containsAll(excerpt);
    }

    @Test
    void demoJsonHasTheDocumentedFieldsForEveryRow() {
        Run r = run("demo", "--json", "--profile", "ASAHI_GRANULE_NO_SGTABLE_GUARD");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .startsWith("[{\"path\":\"legacy\",\"profile\":\"ASAHI_GRANULE_NO_SGTABLE_GUARD\",\"size\":16384,"
                        + "\"dcpIova\":");
        for (String field : new String[] {
            "path", "profile", "size", "dcpIova", "piodmaIova", "contiguous", "overExposedBytes", "dataMatches", "error"
        }) {
            assertThat(r.out().split("\"" + field + "\":", -1)).as(field).hasSize(3 * 4 + 1);
        }
    }

    @Test
    void demoRefusesAnUnknownProfileOrPageSize() {
        assertThat(run("demo", "--profile", "NOPE").exit()).isEqualTo(2);
        assertThat(run("demo", "--page-size", "8K").exit()).isEqualTo(2);
    }
}
