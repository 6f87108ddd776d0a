package org.dmashare.examples.cli;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.spi.ToolProvider;
import java.util.stream.Stream;

/**
 * Builds backend plug-ins for the command-line tests as a user would: Java sources compiled
 * against the test class path into a folder, optionally packed into a jar with its
 * {@code META-INF/services} file.
 */
final class PluginJars {
    private static final String SERVICE = "META-INF/services/org.dmashare.iommu.IommuBackend";

    private PluginJars() {}

    /**
     * A backend named {@code plugged} with the variant {@code flat-64k}, whose units are those of
     * the {@code flat} example; {@code constructorFails} makes its constructor throw.
     */
    static String pluggedSource(boolean constructorFails) {
        return """
                package test.plugin;

                import java.util.List;
                import org.dmashare.iommu.Iommu;
                import org.dmashare.iommu.IommuBackend;
                import org.dmashare.iommu.IommuConfig;
                import org.dmashare.memory.PhysicalMemory;

                public final class Plugged implements IommuBackend {
                    public Plugged() {
                        %s
                    }
                    public String name() { return "plugged"; }
                    public List<Variant> variants() {
                        return List.of(new Variant("flat-64k", 1L << 16, 1L << 16, "a plug-in over the flat example"));
                    }
                    public Iommu create(IommuConfig config, PhysicalMemory memory) {
                        return new org.dmashare.examples.flat.FlatBackend().create(config, memory);
                    }
                }
                """.formatted(
                        constructorFails ? "if (true) throw new IllegalStateException(\"no hardware here\");" : "");
    }

    /** Compiles the {@code Plugged} source into {@code dir} with its services file; returns dir. */
    static Path classesFolder(Path dir, String source) throws IOException {
        Path src = dir.resolve("src/test/plugin/Plugged.java");
        Files.createDirectories(src.getParent());
        Files.writeString(src, source);
        Path classes = dir.resolve("classes");
        Files.createDirectories(classes);
        ToolProvider javac = ToolProvider.findFirst("javac").orElseThrow();
        int rc = javac.run(
                System.out,
                System.err,
                "-d",
                classes.toString(),
                "-cp",
                System.getProperty("java.class.path"),
                src.toString());
        if (rc != 0) {
            throw new IllegalStateException("the test plug-in did not compile");
        }
        service(classes, "test.plugin.Plugged");
        return classes;
    }

    /** Writes the services file naming {@code provider} under {@code classes}. */
    static void service(Path classes, String provider) throws IOException {
        Path services = classes.resolve(SERVICE);
        Files.createDirectories(services.getParent());
        Files.writeString(services, provider + "\n");
    }

    /** Packs a folder into a jar. */
    static Path jar(Path folder, Path jar) throws IOException {
        try (OutputStream file = Files.newOutputStream(jar);
                JarOutputStream out = new JarOutputStream(file);
                Stream<Path> walk = Files.walk(folder)) {
            for (Path p : walk.filter(Files::isRegularFile).sorted().toList()) {
                out.putNextEntry(new JarEntry(folder.relativize(p).toString().replace('\\', '/')));
                out.write(Files.readAllBytes(p));
                out.closeEntry();
            }
        }
        return jar;
    }

    /** A jar holding only the given entries. */
    static Path jarOf(Path jar, Map<String, String> entries) throws IOException {
        try (OutputStream file = Files.newOutputStream(jar);
                JarOutputStream out = new JarOutputStream(file)) {
            for (String name : List.copyOf(entries.keySet())) {
                out.putNextEntry(new JarEntry(name));
                out.write(entries.get(name).getBytes(StandardCharsets.UTF_8));
                out.closeEntry();
            }
        }
        return jar;
    }

    /** The services path, for tests that write a jar by hand. */
    static String servicePath() {
        return SERVICE;
    }
}
