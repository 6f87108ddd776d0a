package org.dmashare.examples.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The published build stays whole: the BOM (which has no parent on purpose) carries the project's
 * version and every library module, and the archetype's templates are the backend plug-in
 * integration project with its names turned into the archetype's properties.
 */
class BuildLayoutTest {
    private static final Path ROOT = Path.of("..");
    /** Modules that are not published libraries. */
    private static final List<String> NOT_LIBRARIES =
            List.of("examples", "benchmarks", "bom", "backend-archetype", "integration-tests");

    @Test
    void theBomHasTheProjectVersionAndEveryLibraryModule() throws Exception {
        String bom = Files.readString(ROOT.resolve("bom/pom.xml"));
        assertThat(bom).doesNotContain("<parent>");
        assertThat(bom)
                .contains("<artifactId>dmashare-bom</artifactId>\n  <version>" + ReadmeExcerptsTest.projectVersion()
                        + "</version>");
        String root = Files.readString(ROOT.resolve("pom.xml"));
        Matcher module = Pattern.compile("<module>([^<]+)</module>").matcher(root);
        List<String> libraries = new ArrayList<>();
        while (module.find()) {
            if (!NOT_LIBRARIES.contains(module.group(1))) {
                Matcher id = Pattern.compile("</parent>\\s*<artifactId>([^<]+)</artifactId>")
                        .matcher(Files.readString(ROOT.resolve(module.group(1)).resolve("pom.xml")));
                assertThat(id.find()).as(module.group(1)).isTrue();
                libraries.add(id.group(1));
            }
        }
        assertThat(libraries).contains("dmashare-api", "dmashare-testkit");
        for (String artifact : libraries) {
            assertThat(bom)
                    .as("the BOM lists %s", artifact)
                    .contains("<artifactId>" + artifact + "</artifactId>\n"
                            + "        <version>${project.version}</version>");
        }
    }

    @Test
    void theArchetypeTemplatesAreThePluginProjectWithItsNamesAsProperties() throws Exception {
        Path plugin = ROOT.resolve("backend-archetype/src/it/backend-plugin");
        Path templates = ROOT.resolve("backend-archetype/src/main/resources/archetype-resources");
        Map<String, String> pairs = Map.of(
                "src/main/java/org/example/iommu/SimpleFormat.java",
                "src/main/java/__classPrefix__Format.java",
                "src/main/java/org/example/iommu/SimpleIommu.java",
                "src/main/java/__classPrefix__Iommu.java",
                "src/main/java/org/example/iommu/SimpleBackend.java",
                "src/main/java/__classPrefix__Backend.java",
                "src/test/java/org/example/iommu/SimpleBackendConformanceTest.java",
                "src/test/java/__classPrefix__BackendConformanceTest.java",
                "pom.xml",
                "pom.xml");
        try (Stream<Path> files = Files.walk(templates)) {
            assertThat(files.filter(Files::isRegularFile).count())
                    .as("template files")
                    .isEqualTo(pairs.size());
        }
        for (Map.Entry<String, String> pair : pairs.entrySet()) {
            String expected = Files.readString(plugin.resolve(pair.getKey()))
                    .replace("org.example.iommu", "${package}")
                    .replace("Simple", "${classPrefix}")
                    .replace("\"simple-64k\"", "\"${backendName}-64k\"")
                    .replace("\"simple\"", "\"${backendName}\"")
                    .replace("{@code simple}", "{@code ${backendName}}")
                    .replace("the simple backend", "the ${backendName} backend")
                    .replace("<groupId>org.example</groupId>", "<groupId>${groupId}</groupId>")
                    .replace("<artifactId>simple-iommu-backend</artifactId>", "<artifactId>${artifactId}</artifactId>")
                    .replace("<version>1.0-SNAPSHOT</version>", "<version>${version}</version>")
                    .replace("@project.version@", "${dmashareVersion}");
            assertThat(Files.readString(templates.resolve(pair.getValue())))
                    .as(pair.getValue())
                    .isEqualTo(expected);
        }
    }
}
