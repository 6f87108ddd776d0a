package org.dmashare.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.dmashare.examples.rig.Cli.run;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.dmashare.examples.rig.Cli.Run;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --plugin-path}: backends from jars and folders, and one clear line for a broken plug-in. */
class PluginPathTest {

    @Test
    void backendsListsABackendFromAPluginJarNamingTheJar(@TempDir Path dir) throws Exception {
        Path jar = PluginJars.jar(
                PluginJars.classesFolder(dir, PluginJars.pluggedSource(false)), dir.resolve("plugged.jar"));
        Run r = run("backends", "--plugin-path", jar.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("plugged")
                .contains("a plug-in over the flat example [plug-in " + jar + "]")
                .contains("lpae-4k")
                .contains("t8020");
        assertThat(run("backends").out()).doesNotContain("plugged");
    }

    @Test
    void shareUsesABackendFromAPluginFolderOfClasses(@TempDir Path dir) throws Exception {
        Path classes = PluginJars.classesFolder(dir, PluginJars.pluggedSource(false));
        Run r = run(
                "share",
                "--plugin-path",
                classes.toString(),
                "--domain",
                "plugged:flat-64k",
                "--domain",
                "generic:lpae-4k",
                "--size",
                "20K");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out()).contains("alignment 64 KiB").contains("plugged-flat-64k-0");
    }

    @Test
    void aFolderContributesTheJarsDirectlyInsideItAndEntriesAreSeparatedByThePathSeparator(@TempDir Path dir)
            throws Exception {
        Path plugins = Files.createDirectories(dir.resolve("plugins"));
        PluginJars.jar(
                PluginJars.classesFolder(dir.resolve("build"), PluginJars.pluggedSource(false)),
                plugins.resolve("plugged.jar"));
        Path empty = Files.createDirectories(dir.resolve("empty"));
        Run r = run("backends", "--json", "--plugin-path", empty + File.pathSeparator + plugins);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("\"backend\":\"plugged\"")
                .contains("\"plugin\":\"" + plugins.resolve("plugged.jar") + "\"")
                .contains("\"backend\":\"generic\",\"variant\":\"lpae-4k\"");
    }

    @Test
    void shareHelpListsThePluginsBackendsAndVariants(@TempDir Path dir) throws Exception {
        Path jar = PluginJars.jar(
                PluginJars.classesFolder(dir, PluginJars.pluggedSource(false)), dir.resolve("plugged.jar"));
        Run r = run("share", "--plugin-path", jar.toString(), "--help");
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("  plugged: flat-64k [plug-in " + jar + "]")
                .contains("  generic: lpae-4k, lpae-16k, lpae-64k");
    }

    @Test
    void aFileThatIsNotAJarIsOneLineNamingItAndExitTwo(@TempDir Path dir) throws Exception {
        Path notAJar = Files.writeString(dir.resolve("broken.jar"), "not a zip");
        assertOneLine(
                run("backends", "--plugin-path", notAJar.toString()),
                2,
                "--plugin-path entry '" + notAJar + "': not a jar file (");
    }

    @Test
    void aMissingOrEmptyEntryIsOneLineNamingItAndExitTwo(@TempDir Path dir) {
        Path missing = dir.resolve("missing.jar");
        assertOneLine(
                run("backends", "--plugin-path", missing.toString()),
                2,
                "--plugin-path entry '" + missing + "': no such file or folder");
        assertOneLine(
                run("share", "--domain", "generic:lpae-4k", "--size", "4K", "--plugin-path", dir + File.pathSeparator),
                2,
                "--plugin-path entry '': empty entry");
    }

    @Test
    void aProviderClassMissingFromItsJarIsOneLineWithoutAStackTrace(@TempDir Path dir) throws Exception {
        Path jar = PluginJars.jarOf(dir.resolve("ghost.jar"), Map.of(PluginJars.servicePath(), "test.plugin.Ghost\n"));
        Run r = run("backends", "--plugin-path", jar.toString());
        assertOneLine(r, 2, "--plugin-path " + jar + ": a backend plug-in cannot be loaded: ServiceConfigurationError");
        assertThat(r.err()).contains("test.plugin.Ghost not found").doesNotContain("\tat ");
    }

    @Test
    void aProviderWhoseConstructorThrowsIsOneLineNamingTheCause(@TempDir Path dir) throws Exception {
        Path jar = PluginJars.jar(
                PluginJars.classesFolder(dir, PluginJars.pluggedSource(true)), dir.resolve("failing.jar"));
        Run r = run("share", "--plugin-path", jar.toString(), "--domain", "generic:lpae-4k", "--size", "4K");
        assertOneLine(r, 2, "a backend plug-in cannot be loaded: ServiceConfigurationError");
        assertThat(r.err()).contains("IllegalStateException (no hardware here)").doesNotContain("\tat ");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void aPluginNamedLikeABuiltInBackendIsRefusedNamingBoth(@TempDir Path dir) throws Exception {
        Path classes = PluginJars.classesFolder(
                dir, PluginJars.pluggedSource(false).replace("return \"plugged\"", "return \"generic\""));
        Run r = run("backends", "--plugin-path", classes.toString());
        assertOneLine(r, 2, "two IOMMU backends are named 'generic'");
    }

    private static void assertOneLine(Run r, int exit, String message) {
        assertThat(r.exit()).as(r.err()).isEqualTo(exit);
        assertThat(r.err().strip().lines()).as(r.err()).hasSize(1);
        assertThat(r.err()).startsWith("dmashare: ").contains(message);
    }
}
