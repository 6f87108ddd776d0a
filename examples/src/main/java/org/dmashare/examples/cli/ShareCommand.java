package org.dmashare.examples.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.dmashare.DmaShareException;
import org.dmashare.Hex;
import org.dmashare.dart.DartIommu;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code dmashare share}: creates one IOMMU per {@code --domain} (stream 0 each), shares one
 * buffer among them and prints the layout: the physical blocks and each domain's IOVA range.
 */
@Command(
        name = "share",
        mixinStandardHelpOptions = true,
        versionProvider = DmashareCommand.Version.class,
        description = "Create one IOMMU instance per --domain (stream 0 attached to a new domain), share one buffer"
                + " among the domains and print the layout: the physical blocks and each domain's IOVA range."
                + " Output files are checked before anything is done.",
        footer = {"", "Sizes are " + Sizes.FORMAT + "."})
final class ShareCommand implements Callable<Integer> {
    static final long RAM_BASE = 0x8_0000_0000L;

    @Spec
    CommandSpec spec;

    @Mixin
    PluginPath plugins;

    @Option(
            names = "--domain",
            required = true,
            paramLabel = "BACKEND:VARIANT",
            description = "A domain on a new IOMMU instance; repeat for more. What is found is listed below.")
    List<String> domains;

    @Option(
            names = "--size",
            required = true,
            converter = Sizes.class,
            paramLabel = "SIZE",
            description = "Buffer size, e.g. 20K or 0x5000.")
    long size;

    @Option(names = "--identical-iova", description = "Map at the same IOVA in every domain.")
    boolean identicalIova;

    @Option(names = "--json", description = "Print the layout as JSON.")
    boolean json;

    @Option(
            names = "--svg",
            paramLabel = "FILE",
            description =
                    "Write a picture of the layout as SVG: physical memory and each domain to scale, each IOVA chunk"
                            + " joined to the physical block it maps.")
    Path svg;

    @Option(
            names = "--dump",
            paramLabel = "DIR",
            description = "Write each DART instance's register and table dump as DIR/<instance name>.json (DIR is"
                    + " created if missing; needs an apple-dart --domain).")
    Path dump;

    @Option(
            names = "--page-size",
            defaultValue = "4K",
            converter = Sizes.class,
            paramLabel = "4K|16K",
            description = "CPU page size of the modelled kernel (default ${DEFAULT-VALUE}).")
    long pageSize;

    @Option(
            names = "--memory",
            defaultValue = "4G",
            converter = Sizes.class,
            paramLabel = "SIZE",
            description = "Modelled RAM at 0x8_0000_0000, up to 4T (default ${DEFAULT-VALUE}); sparse, costs nothing"
                    + " until touched.")
    long memorySize;

    record Target(IommuBackend backend, String variant, String name) {}

    /** Where RAM goes when a unit's output width cannot reach 0x8_0000_0000 (ARM v7s: 32 bits). */
    static final long LOW_RAM_BASE = 0x4000_0000L;

    /**
     * The modelled RAM: at {@link #RAM_BASE}, or at {@link #LOW_RAM_BASE} and no larger than the
     * narrowest unit's output width reaches, with a note on standard error.
     */
    private PhysicalMemory placeMemory(List<Target> targets) {
        int oas = 64;
        PhysicalMemory probe = PhysicalMemory.create(LOW_RAM_BASE, pageSize, (int) pageSize);
        for (Target t : targets) {
            oas = Math.min(
                    oas,
                    t.backend()
                            .create(
                                    IommuConfig.builder(t.variant())
                                            .name(t.name())
                                            .build(),
                                    probe)
                            .outputBits());
        }
        long reach = oas >= 63 ? Long.MAX_VALUE : 1L << oas;
        if (RAM_BASE + memorySize <= reach) {
            return PhysicalMemory.create(RAM_BASE, memorySize, (int) pageSize);
        }
        long size = Math.min(memorySize, reach - LOW_RAM_BASE);
        if (size < pageSize) {
            throw bad("a unit with a " + oas + "-bit output width cannot reach any modelled RAM");
        }
        spec.commandLine()
                .getErr()
                .println("note: RAM placed at " + Hex.range(LOW_RAM_BASE, size) + " so that every unit's " + oas
                        + "-bit output width reaches it");
        return PhysicalMemory.create(LOW_RAM_BASE, size, (int) pageSize);
    }

    @Override
    public Integer call() throws IOException {
        // Every argument is checked before any work: nothing is printed or written for a bad one.
        if (pageSize != 4096 && pageSize != 16384) {
            throw bad("--page-size must be 4K or 16K, got " + Hex.size(pageSize));
        }
        if (memorySize % pageSize != 0 || memorySize > PhysicalMemory.MAX_SIZE) {
            throw bad("--memory must be a multiple of the page size " + Hex.size(pageSize) + " and at most 4T ("
                    + Hex.size(PhysicalMemory.MAX_SIZE) + "), got " + Hex.size(memorySize));
        }
        if (size > memorySize) {
            throw bad("--size " + Hex.size(size) + " does not fit --memory " + Hex.size(memorySize));
        }
        if (svg != null) {
            OutputPaths.checkFile(spec.commandLine(), "--svg", svg);
        }
        if (dump != null) {
            OutputPaths.checkFolder(spec.commandLine(), "--dump", dump);
        }
        List<Target> targets = parseTargets();
        if (dump != null && targets.stream().noneMatch(t -> t.backend().name().equals("apple-dart"))) {
            throw bad("--dump '" + dump + "': only DART instances have dumps and no --domain is apple-dart:VARIANT");
        }
        PhysicalMemory memory = placeMemory(targets);
        List<IommuDomain> created = new ArrayList<>();
        for (Target t : targets) {
            Iommu iommu = t.backend()
                    .create(IommuConfig.builder(t.variant()).name(t.name()).build(), memory);
            IommuDomain d = iommu.createDomain();
            iommu.device(0).attach(d);
            created.add(d);
        }
        SharedBuffer buffer = new DmaSharing(memory)
                .allocate(
                        size,
                        created,
                        ShareOptions.builder().identicalIova(identicalIova).build());
        if (svg != null) {
            Files.writeString(svg, Svg.render(buffer, created), StandardCharsets.UTF_8);
        }
        if (dump != null) {
            Files.createDirectories(dump);
            for (IommuDomain d : created) {
                if (d.iommu() instanceof DartIommu dart) {
                    Files.writeString(
                            dump.resolve(d.iommu().name() + ".json"),
                            dart.dump().toJson(),
                            StandardCharsets.UTF_8);
                }
            }
        }
        if (json) {
            System.out.println(Json.write(layout(buffer, created, targets)));
        } else {
            printText(buffer, created);
        }
        return 0;
    }

    /**
     * The help footer listing what {@code --domain} accepts: every backend and variant found,
     * with the plug-ins of {@code --plugin-path} when it was given before {@code --help}.
     */
    String domainsHelp() {
        StringBuilder out = new StringBuilder("%nBACKEND:VARIANT found (add backends with --plugin-path):%n");
        try {
            for (IommuBackend b : plugins.backends()) {
                out.append("  ")
                        .append(b.name())
                        .append(": ")
                        .append(String.join(
                                ", ",
                                b.variants().stream()
                                        .map(IommuBackend.Variant::name)
                                        .toList()));
                String plugin = BackendsCommand.plugin(b);
                out.append(plugin == null ? "" : " [plug-in " + plugin + "]").append("%n");
            }
        } catch (CommandLine.ParameterException | DmaShareException e) {
            out.append("  (").append(e.getMessage()).append(")%n");
        }
        return out.toString().replace("%n", System.lineSeparator());
    }

    private CommandLine.ParameterException bad(String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    private List<Target> parseTargets() {
        List<Target> out = new ArrayList<>();
        for (int i = 0; i < domains.size(); i++) {
            String spec = domains.get(i);
            int colon = spec.indexOf(':');
            if (colon <= 0 || colon == spec.length() - 1) {
                throw bad("--domain '" + spec + "' must be BACKEND:VARIANT, e.g. generic:lpae-4k (see share --help)");
            }
            String backendName = spec.substring(0, colon);
            String variant = spec.substring(colon + 1);
            IommuBackend backend;
            try {
                backend = plugins.find(backendName);
                backend.variant(variant);
            } catch (DmaShareException e) {
                throw bad("--domain '" + spec + "': " + e.getMessage());
            }
            out.add(new Target(backend, variant, backendName + "-" + variant + "-" + i));
        }
        return out;
    }

    private Map<String, Object> layout(SharedBuffer buffer, List<IommuDomain> created, List<Target> targets) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("size", buffer.size());
        out.put("alignment", buffer.alignment());
        out.put("length", buffer.length());
        List<Object> blocks = new ArrayList<>();
        for (ScatterList.Segment s : buffer.blocks()) {
            Map<String, Object> b = new LinkedHashMap<>();
            b.put("pa", s.pa());
            b.put("length", s.length());
            blocks.add(b);
        }
        out.put("blocks", blocks);
        List<Object> mappings = new ArrayList<>();
        for (int i = 0; i < created.size(); i++) {
            IommuDomain d = created.get(i);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("iommu", d.iommu().name());
            m.put("backend", targets.get(i).backend().name());
            m.put("variant", targets.get(i).variant());
            m.put("sid", 0);
            m.put("iova", buffer.iova(d));
            mappings.add(m);
        }
        out.put("mappings", mappings);
        return out;
    }

    private static void printText(SharedBuffer buffer, List<IommuDomain> created) {
        System.out.printf(
                "buffer %s, alignment %s, mapped length %s%n",
                Hex.size(buffer.size()), Hex.size(buffer.alignment()), Hex.size(buffer.length()));
        System.out.println("physical blocks (buffer order):");
        long offset = 0;
        for (ScatterList.Segment s : buffer.blocks()) {
            System.out.printf("  offset %-12s pa %s%n", Hex.of(offset), Hex.range(s.pa(), s.length()));
            offset += s.length();
        }
        System.out.println("IOVA ranges (stream 0 of each IOMMU):");
        for (IommuDomain d : created) {
            System.out.printf(
                    "  %-28s granule %-8s iova %s%n",
                    d.iommu().name(), BackendsCommand.human(d.granule()), Hex.range(buffer.iova(d), buffer.length()));
        }
    }
}
