package org.dmashare.examples.cli;

import java.io.File;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceConfigurationError;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * The {@code --plugin-path} option and the backends it adds: jars and folders, separated by the
 * platform's path separator; a folder contributes its classes and every jar directly inside it.
 * Backends are found with {@link java.util.ServiceLoader} over a class loader whose parent is the
 * command line's own, so the built-in backends stay visible.
 *
 * <p>Every entry is checked before anything is loaded: a missing path, a file that is not a jar or
 * an unreadable entry is a bad argument naming the entry and the reason. A plug-in that is found but
 * cannot be loaded or instantiated is reported the same way, in one line, without a stack trace.
 */
final class PluginPath {
    @Spec(Spec.Target.MIXEE)
    CommandSpec mixee;

    @Option(
            names = "--plugin-path",
            paramLabel = "PATH",
            description = "Backend plug-ins: jars and folders (a folder's classes and the jars directly in it),"
                    + " separated by '${sys:path.separator}'.")
    String path;

    /** The class loader that sees the plug-ins, or this class's own when none was given. */
    ClassLoader loader() {
        ClassLoader parent = PluginPath.class.getClassLoader();
        if (path == null) {
            return parent;
        }
        List<URL> urls = new ArrayList<>();
        for (String entry : path.split(File.pathSeparator, -1)) {
            for (Path p : entry(entry)) {
                try {
                    urls.add(p.toUri().toURL());
                } catch (MalformedURLException e) {
                    throw bad(entry, "not a usable path (" + e.getMessage() + ")");
                }
            }
        }
        return new URLClassLoader("dmashare-plugins", urls.toArray(URL[]::new), parent);
    }

    /** Every backend the built-in class path and the plug-ins provide, sorted by name. */
    List<IommuBackend> backends() {
        ClassLoader loader = loader();
        try {
            return IommuBackends.available(loader);
        } catch (ServiceConfigurationError | LinkageError e) {
            throw new CommandLine.ParameterException(
                    mixee.commandLine(),
                    "--plugin-path " + path + ": a backend plug-in cannot be loaded: " + oneLine(e));
        } catch (InvalidArgumentException e) {
            throw new CommandLine.ParameterException(
                    mixee.commandLine(), (path == null ? "" : "--plugin-path " + path + ": ") + e.getMessage());
        }
    }

    /**
     * The backend called {@code name} among {@link #backends()}.
     *
     * @throws InvalidArgumentException if there is none; the message lists what was found
     */
    IommuBackend find(String name) {
        List<IommuBackend> found = backends();
        for (IommuBackend b : found) {
            if (b.name().equals(name)) {
                return b;
            }
        }
        throw new InvalidArgumentException("no IOMMU backend named '" + name + "'; found "
                + found.stream().map(IommuBackend::name).toList()
                + (path == null
                        ? " (a plug-in jar is added with --plugin-path)"
                        : " (with --plugin-path " + path + ")"));
    }

    private List<Path> entry(String entry) {
        if (entry.isEmpty()) {
            throw bad(entry, "empty entry; give jars or folders separated by '" + File.pathSeparator + "'");
        }
        Path p = Path.of(entry);
        if (!Files.exists(p)) {
            throw bad(entry, "no such file or folder");
        }
        if (!Files.isReadable(p)) {
            throw bad(entry, "not readable");
        }
        if (!Files.isDirectory(p)) {
            checkJar(entry, p);
            return List.of(p);
        }
        List<Path> out = new ArrayList<>(List.of(p));
        try (Stream<Path> files = Files.list(p)) {
            for (Path jar : files.filter(f -> f.getFileName().toString().endsWith(".jar") && Files.isRegularFile(f))
                    .sorted()
                    .toList()) {
                checkJar(jar.toString(), jar);
                out.add(jar);
            }
        } catch (IOException e) {
            throw bad(entry, "cannot list the folder (" + e.getMessage() + ")");
        }
        return out;
    }

    private void checkJar(String entry, Path p) {
        try (JarFile jar = new JarFile(p.toFile())) {
            jar.size();
        } catch (IOException | SecurityException e) {
            throw bad(entry, "not a jar file (" + e.getMessage() + ")");
        }
    }

    private CommandLine.ParameterException bad(String entry, String reason) {
        return new CommandLine.ParameterException(
                mixee.commandLine(), "--plugin-path entry '" + entry + "': " + reason);
    }

    /** The error and its causes' messages on one line. */
    private static String oneLine(Throwable e) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            out.append(out.length() == 0 ? "" : ": caused by ")
                    .append(t.getClass().getSimpleName())
                    .append(m == null ? "" : " (" + m.replaceAll("\\s+", " ").strip() + ")");
        }
        return out.toString();
    }
}
