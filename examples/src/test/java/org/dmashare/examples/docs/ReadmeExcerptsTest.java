package org.dmashare.examples.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's POM and Java examples are copies of the integration projects that {@code mvn verify}
 * builds (backend-archetype/src/it): each block after an {@code <!-- excerpt: PATH -->} marker must be
 * a run of consecutive lines of that file, the build's {@code @project.version@} read as the
 * project's version.
 */
class ReadmeExcerptsTest {
    private static final Path ROOT = Path.of("..");
    private static final Pattern MARKER =
            Pattern.compile("<!-- excerpt: (\\S+) -->\\n```[a-z]*\\n(.*?)\\n```", Pattern.DOTALL);

    record Excerpt(String path, List<String> lines) {}

    static List<Excerpt> excerpts() throws Exception {
        String readme = Files.readString(ROOT.resolve("README.md"));
        Matcher m = MARKER.matcher(readme);
        List<Excerpt> out = new ArrayList<>();
        while (m.find()) {
            out.add(new Excerpt(
                    m.group(1), m.group(2).lines().map(String::stripTrailing).toList()));
        }
        return out;
    }

    static String projectVersion() throws Exception {
        Matcher m = Pattern.compile("<artifactId>dmashare-parent</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(Files.readString(ROOT.resolve("pom.xml")));
        assertThat(m.find()).as("the root POM's version").isTrue();
        return m.group(1);
    }

    @Test
    void everyExcerptIsConsecutiveLinesOfTheFileItNames() throws Exception {
        List<Excerpt> excerpts = excerpts();
        assertThat(excerpts)
                .extracting(Excerpt::path)
                .contains(
                        "backend-archetype/src/it/consumer/pom.xml",
                        "backend-archetype/src/it/consumer/src/main/java/org/example/consumer/UsingTheLibrary.java",
                        "backend-archetype/src/it/backend-plugin/pom.xml");
        String version = projectVersion();
        for (Excerpt e : excerpts) {
            Path file = ROOT.resolve(e.path());
            assertThat(file).as("file named by an excerpt").isRegularFile();
            List<String> lines = Files.readString(file)
                    .replace("@project.version@", version)
                    .lines()
                    .map(String::stripTrailing)
                    .toList();
            assertThat(e.lines()).as(e.path()).hasSizeGreaterThan(5);
            assertThat(Collections.indexOfSubList(lines, e.lines()))
                    .as("README excerpt of %s is consecutive lines of it:%n%s", e.path(), String.join("\n", e.lines()))
                    .isNotNegative();
        }
    }

    @Test
    void theUsingTheLibraryExampleIsShownWholeWithEveryImport() throws Exception {
        Excerpt java = excerpts().stream()
                .filter(e -> e.path().endsWith("UsingTheLibrary.java"))
                .findFirst()
                .orElseThrow();
        List<String> file = Files.readAllLines(ROOT.resolve(java.path())).stream()
                .map(String::stripTrailing)
                .toList();
        assertThat(java.lines()).isEqualTo(file);
    }
}
