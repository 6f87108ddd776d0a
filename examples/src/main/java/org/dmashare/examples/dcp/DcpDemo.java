package org.dmashare.examples.dcp;

import com.google.inject.Guice;
import com.google.inject.Injector;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.LongUnaryOperator;
import org.dmashare.Hex;
import org.dmashare.dmaapi.CoherentBuffer;
import org.dmashare.dmaapi.DmaApiException;
import org.dmashare.dmaapi.ExposureReport;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.dmaapi.Profile;
import org.dmashare.dmaapi.SgTable;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;

/**
 * Sends one firmware-like request sequence — {@code allocate_buffer} for 16 KiB, 20 KiB, 100 KiB
 * and 1 MiB, then {@code map_piodma} for each id — through the legacy endpoint under each DMA-API
 * profile and through the migrated endpoint, each on a fresh platform whose memory is fragmented
 * the same way beforehand, and measures every outcome on the modelled hardware.
 */
public final class DcpDemo {
    /** The buffer sizes the firmware asks for. */
    public static final List<Long> SIZES = List.of(16L << 10, 20L << 10, 100L << 10, 1L << 20);
    /** Bytes of memory fragmented before the requests. */
    public static final long FRAGMENTED = 64L << 20;

    private DcpDemo() {}

    /**
     * One buffer on one path.
     *
     * @param path {@code legacy} or {@code migrated}
     * @param profile the DMA-API profile (legacy) or the IOVA policy (migrated)
     * @param size bytes requested
     * @param dcpIova the DCP's address for the buffer, or -1
     * @param piodmaIova the PIODMA engine's address for the buffer, or -1
     * @param contiguous whether both devices reach byte o of the buffer at their IOVA + o, for
     *     every o, by a walk of the page tables
     * @param overExposedBytes bytes outside the buffer that the DCP or PIODMA can reach through
     *     its mappings (summed over both devices)
     * @param dataMatches whether the CPU's pattern reads back whole by DMA through both devices
     * @param error what went wrong, or null
     */
    public record Row(
            String path,
            String profile,
            long size,
            long dcpIova,
            long piodmaIova,
            boolean contiguous,
            long overExposedBytes,
            boolean dataMatches,
            String error) {}

    /**
     * Runs the sequence on every path.
     *
     * @param pageSize the kernel's PAGE_SIZE: 4096 or 16384
     * @param profiles the legacy profiles to run
     * @return one row per buffer and path, legacy profiles first
     */
    public static List<Row> run(int pageSize, List<Profile> profiles) {
        List<Row> rows = new ArrayList<>();
        for (Profile p : profiles) {
            rows.addAll(legacy(pageSize, p));
        }
        rows.addAll(migrated(pageSize, false));
        rows.addAll(migrated(pageSize, true));
        return rows;
    }

    private static Injector platform(int pageSize) {
        Injector injector = Guice.createInjector(new DcpPlatformModule(pageSize));
        injector.getInstance(DcpPlatform.class).fragment(FRAGMENTED);
        return injector;
    }

    static List<Row> legacy(int pageSize, Profile profile) {
        Injector injector = platform(pageSize);
        DcpPlatform platform = injector.getInstance(DcpPlatform.class);
        List<Row> rows = new ArrayList<>();
        LegacyDcpEndpoint endpoint;
        try {
            endpoint = new LegacyDcpEndpoint(
                    platform,
                    IommuDma.builder(platform.memory()).profile(profile).build());
        } catch (DmaApiException e) {
            for (long size : SIZES) {
                rows.add(new Row(
                        "legacy",
                        profile.name(),
                        size,
                        -1,
                        -1,
                        false,
                        0,
                        false,
                        "probe: " + e.errno().negative() + " " + e.getMessage()));
            }
            return rows;
        }
        List<Integer> ids = new ArrayList<>();
        List<DcpEndpoint.AllocateBufferResponse> allocated = new ArrayList<>();
        for (long size : SIZES) {
            DcpEndpoint.AllocateBufferResponse r = endpoint.allocateBuffer(new DcpEndpoint.AllocateBufferRequest(size));
            allocated.add(r);
            ids.add(r.memDescId());
        }
        for (int i = 0; i < SIZES.size(); i++) {
            long size = SIZES.get(i);
            int id = ids.get(i);
            DcpEndpoint.MapPiodmaResponse m = endpoint.mapPiodma(new DcpEndpoint.MapPiodmaRequest(id));
            CoherentBuffer buf = endpoint.buffer(id);
            SgTable sgt = endpoint.mapping(id);
            boolean mapped = m.ret() == 0 && sgt != null && sgt.nents() > 0;
            String error = m.ret() != 0
                    ? "map_piodma rejected (ret " + m.ret() + "): " + lastLog(endpoint)
                    : !mapped ? "map_piodma answered success without a mapping: " + lastLog(endpoint) : null;
            if (buf == null) {
                rows.add(new Row(
                        "legacy",
                        profile.name(),
                        size,
                        -1,
                        -1,
                        false,
                        0,
                        false,
                        "allocate_buffer: " + lastLog(endpoint)));
                continue;
            }
            long exposed = ExposureReport.forBuffer(buf).exposedBytes()
                    + (mapped
                            ? ExposureReport.forMapping(endpoint.piodmaDevice(), sgt, buf.ownedRanges())
                                    .exposedBytes()
                            : 0);
            long piodmaIova = mapped ? m.dva() : -1;
            boolean contiguous = mapped
                    && reachesInOrder(platform.dcp(), buf.dmaHandle(), size, buf::physicalAddress)
                    && reachesInOrder(platform.piodma(), piodmaIova, size, buf::physicalAddress);
            byte[] pattern = pattern((int) size, i);
            buf.write(0, pattern);
            String dataError = dataCheck(platform, buf.dmaHandle(), piodmaIova, pattern);
            rows.add(new Row(
                    "legacy",
                    profile.name(),
                    size,
                    buf.dmaHandle(),
                    piodmaIova,
                    contiguous,
                    exposed,
                    mapped && dataError == null,
                    error != null ? error : dataError));
        }
        return rows;
    }

    static List<Row> migrated(int pageSize, boolean identical) {
        Injector injector = platform(pageSize);
        DcpPlatform platform = injector.getInstance(DcpPlatform.class);
        MigratedDcpEndpoint endpoint =
                new MigratedDcpEndpoint(platform, injector.getInstance(DmaSharing.class), identical);
        String policy = identical ? "identical-iova" : "per-domain-iova";
        List<Row> rows = new ArrayList<>();
        List<DcpEndpoint.AllocateBufferResponse> allocated = new ArrayList<>();
        for (long size : SIZES) {
            allocated.add(endpoint.allocateBuffer(new DcpEndpoint.AllocateBufferRequest(size)));
        }
        for (int i = 0; i < SIZES.size(); i++) {
            long size = SIZES.get(i);
            DcpEndpoint.AllocateBufferResponse a = allocated.get(i);
            if (a.ret() != 0) {
                rows.add(new Row("migrated", policy, size, -1, -1, false, 0, false, "allocate_buffer: ret " + a.ret()));
                continue;
            }
            DcpEndpoint.MapPiodmaResponse m = endpoint.mapPiodma(new DcpEndpoint.MapPiodmaRequest(a.memDescId()));
            SharedBuffer b = endpoint.buffer(a.memDescId());
            if (m.ret() != 0) {
                rows.add(new Row("migrated", policy, size, a.dva(), -1, false, 0, false, "map_piodma: ret " + m.ret()));
                continue;
            }
            long exposed = ExposureReport.scan(platform.dcp(), a.dva(), b.length(), b.blocks())
                            .exposedBytes()
                    + ExposureReport.scan(platform.piodma(), m.dva(), b.length(), b.blocks())
                            .exposedBytes();
            boolean contiguous = reachesInOrder(platform.dcp(), a.dva(), size, b::physicalAddress)
                    && reachesInOrder(platform.piodma(), m.dva(), size, b::physicalAddress);
            byte[] pattern = pattern((int) size, i);
            b.write(0, pattern);
            String dataError = dataCheck(platform, a.dva(), m.dva(), pattern);
            rows.add(new Row(
                    "migrated", policy, size, a.dva(), m.dva(), contiguous, exposed, dataError == null, dataError));
        }
        return rows;
    }

    /** Whether every page of {@code [iova, iova + size)} walks to the buffer's byte at the same offset. */
    private static boolean reachesInOrder(DmaDevice device, long iova, long size, LongUnaryOperator pa) {
        for (long o = 0; o < size; o += 0x1000) {
            long expected = pa.applyAsLong(o);
            long got = device.iommu()
                    .walk(device.streamId(), iova + o)
                    .map(t -> t.pa())
                    .orElse(-1L);
            if (got != expected) {
                return false;
            }
        }
        return true;
    }

    /** CPU wrote {@code pattern}; both devices read the whole buffer by DMA. Null if both match. */
    private static String dataCheck(DcpPlatform platform, long dcpIova, long piodmaIova, byte[] pattern) {
        try {
            if (!Arrays.equals(platform.dcp().read(dcpIova, pattern.length), pattern)) {
                return "DCP read other bytes than the CPU wrote";
            }
            if (piodmaIova < 0) {
                return null;
            }
            if (!Arrays.equals(platform.piodma().read(piodmaIova, pattern.length), pattern)) {
                return "PIODMA read other bytes than the CPU wrote";
            }
            return null;
        } catch (DeviceFaultException e) {
            return "DMA fault: " + e.fault();
        }
    }

    private static String lastLog(LegacyDcpEndpoint endpoint) {
        List<String> log = endpoint.kernelLog();
        return log.isEmpty() ? "(nothing logged)" : log.get(log.size() - 1);
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 7 + seed * 13 + (i >>> 12));
        }
        return b;
    }

    /**
     * Formats rows as the side-by-side table the demo prints, followed by every error in full.
     * A cell that does not apply says {@code -}: no IOVA where the device got none; contiguity and
     * data only when both devices have a mapping; exposure only when at least one has. The error
     * column holds a note number; the notes below the table give each distinct error once, whole.
     *
     * @param rows the rows
     * @return the table, one line per row after a header, then one line per distinct error
     */
    public static String table(List<Row> rows) {
        String format = "%-9s %-31s %8s  %-16s %-16s %-10s %-13s %-5s %s%n";
        StringBuilder out = new StringBuilder();
        out.append(String.format(
                format,
                "path",
                "profile",
                "size",
                "DCP IOVA",
                "PIODMA IOVA",
                "contiguous",
                "over-exposed",
                "data",
                "error"));
        List<String> notes = new ArrayList<>();
        for (Row r : rows) {
            boolean both = r.dcpIova() >= 0 && r.piodmaIova() >= 0;
            boolean any = r.dcpIova() >= 0 || r.piodmaIova() >= 0;
            String note = "-";
            if (r.error() != null) {
                if (!notes.contains(r.error())) {
                    notes.add(r.error());
                }
                note = "[" + (notes.indexOf(r.error()) + 1) + "]";
            }
            out.append(String.format(
                    format,
                    r.path(),
                    r.profile(),
                    (r.size() >> 10) + " KiB",
                    r.dcpIova() < 0 ? "-" : Hex.of(r.dcpIova()),
                    r.piodmaIova() < 0 ? "-" : Hex.of(r.piodmaIova()),
                    !both ? "-" : r.contiguous() ? "yes" : "no",
                    !any
                            ? "-"
                            : r.overExposedBytes() == 0
                                    ? "0"
                                    : Hex.size(r.overExposedBytes()).replaceAll(" \\(.*", ""),
                    !both ? "-" : r.dataMatches() ? "equal" : "NO",
                    note));
        }
        if (!notes.isEmpty()) {
            out.append(String.format("%nerrors:%n"));
            for (int i = 0; i < notes.size(); i++) {
                out.append(String.format("[%d] %s%n", i + 1, notes.get(i)));
            }
        }
        return out.toString();
    }
}
