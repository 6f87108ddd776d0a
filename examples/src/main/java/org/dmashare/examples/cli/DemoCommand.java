package org.dmashare.examples.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.dmashare.dmaapi.Profile;
import org.dmashare.examples.dcp.DcpDemo;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code dmashare demo}: the DCP/PIODMA driver callbacks, legacy and migrated, on an M1-like
 * platform, one row per buffer and path.
 */
@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        versionProvider = DmashareCommand.Version.class,
        description = "Run the DCP's allocate_buffer and map_piodma requests (16K, 20K, 100K and 1M, memory fragmented"
                + " first) through the legacy DMA-API driver pattern and through the migrated one, and report what each"
                + " device reaches. Errors are listed in full below the table.")
final class DemoCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--json", description = "Print the rows as JSON.")
    boolean json;

    @Option(
            names = "--page-size",
            defaultValue = "4K",
            converter = Sizes.class,
            paramLabel = "4K|16K",
            description = "The kernel's PAGE_SIZE (default ${DEFAULT-VALUE}).")
    long pageSize;

    @Option(
            names = "--profile",
            paramLabel = "P",
            description =
                    "Run the legacy path under this DMA-API profile only: ${COMPLETION-CANDIDATES} (default: all).")
    Profile profile;

    @Override
    public Integer call() {
        if (pageSize != 4096 && pageSize != 16384) {
            throw new CommandLine.ParameterException(
                    spec.commandLine(), "--page-size must be 4K or 16K, got " + pageSize);
        }
        List<Profile> profiles = profile == null ? List.of(Profile.values()) : List.of(profile);
        List<DcpDemo.Row> rows = DcpDemo.run((int) pageSize, profiles);
        if (json) {
            List<Object> out = new ArrayList<>();
            for (DcpDemo.Row r : rows) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("path", r.path());
                m.put("profile", r.profile());
                m.put("size", r.size());
                m.put("dcpIova", r.dcpIova() < 0 ? null : r.dcpIova());
                m.put("piodmaIova", r.piodmaIova() < 0 ? null : r.piodmaIova());
                m.put("contiguous", r.contiguous());
                m.put("overExposedBytes", r.overExposedBytes());
                m.put("dataMatches", r.dataMatches());
                m.put("error", r.error());
                out.add(m);
            }
            System.out.println(Json.write(out));
        } else {
            System.out.printf(
                    "DCP (dcp-dart sid 0) and PIODMA (disp0-dart sid 4), t8020 DARTs, 16 KiB granule, PAGE_SIZE %s%n%n",
                    BackendsCommand.human(pageSize));
            System.out.print(DcpDemo.table(rows));
        }
        return 0;
    }
}
