package org.dmashare.examples.cli;

import java.net.URISyntaxException;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.dmashare.Hex;
import org.dmashare.iommu.IommuBackend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code dmashare backends}: the discovered backends with their variants, granules and page sizes,
 * and for a backend from {@code --plugin-path} the plug-in it came from.
 */
@Command(
        name = "backends",
        mixinStandardHelpOptions = true,
        versionProvider = DmashareCommand.Version.class,
        description = "List the IOMMU backends found with ServiceLoader: the built-in ones and those of --plugin-path.")
final class BackendsCommand implements Callable<Integer> {

    @Mixin
    PluginPath plugins;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override
    public Integer call() {
        List<Object> out = new ArrayList<>();
        for (IommuBackend b : plugins.backends()) {
            String plugin = plugin(b);
            for (IommuBackend.Variant v : b.variants()) {
                if (json) {
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("backend", b.name());
                    row.put("variant", v.name());
                    row.put("granule", v.granule());
                    row.put("pageSizes", pageSizes(v.pageSizes()));
                    row.put("description", v.description());
                    row.put("plugin", plugin);
                    out.add(row);
                } else {
                    System.out.printf(
                            "%-12s %-10s granule %-8s pages %-16s %s%s%n",
                            b.name(),
                            v.name(),
                            human(v.granule()),
                            String.join(
                                    "|",
                                    pageSizes(v.pageSizes()).stream()
                                            .map(BackendsCommand::human)
                                            .toList()),
                            v.description(),
                            plugin == null ? "" : " [plug-in " + plugin + "]");
                }
            }
        }
        if (json) {
            System.out.println(Json.write(out));
        }
        return 0;
    }

    /** The jar or folder a plug-in backend was loaded from, or null for a built-in one. */
    static String plugin(IommuBackend b) {
        if (!(b.getClass().getClassLoader() instanceof URLClassLoader)
                || b.getClass().getClassLoader() == BackendsCommand.class.getClassLoader()) {
            return null;
        }
        var source = b.getClass().getProtectionDomain().getCodeSource();
        try {
            return source == null ? "?" : Path.of(source.getLocation().toURI()).toString();
        } catch (URISyntaxException | IllegalArgumentException e) {
            return source.getLocation().toString();
        }
    }

    static List<Long> pageSizes(long bitmap) {
        List<Long> sizes = new ArrayList<>();
        for (int bit = 0; bit < 63; bit++) {
            if ((bitmap & (1L << bit)) != 0) {
                sizes.add(1L << bit);
            }
        }
        return sizes;
    }

    static String human(long bytes) {
        String s = Hex.size(bytes);
        int paren = s.indexOf(" (");
        return (paren < 0 ? s : s.substring(0, paren))
                .replace(" KiB", "K")
                .replace(" MiB", "M")
                .replace(" GiB", "G")
                .replace(" TiB", "T");
    }
}
