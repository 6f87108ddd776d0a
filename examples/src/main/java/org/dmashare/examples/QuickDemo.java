package org.dmashare.examples;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;
import org.dmashare.Hex;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackend;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.SharedBuffer;

/**
 * The quick-start demo: shares one 100 KiB buffer between a 4 KiB-granule and a 64 KiB-granule
 * IOMMU domain, has the CPU write a pattern, each device read it back by DMA through its own
 * IOVA, one device write and the other read, and prints the layout as walked from the page
 * tables in memory.
 */
public final class QuickDemo {
    private QuickDemo() {
    }

    /**
     * Runs the demo.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        System.exit(run(System.out));
    }

    /**
     * Runs the demo, printing to {@code out}.
     *
     * @param out where to print
     * @return 0 if every check passed, 1 otherwise
     */
    public static int run(PrintStream out) {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);
        IommuBackend generic = IommuBackends.find("generic");
        Iommu small = generic.create(IommuConfig.builder("lpae-4k").name("iommu-4k").build(), memory);
        Iommu large = generic.create(IommuConfig.builder("lpae-64k").name("iommu-64k").build(), memory);
        IommuDomain d4k = small.createDomain();
        IommuDomain d64k = large.createDomain();
        DmaDevice devA = small.device(0);
        DmaDevice devB = large.device(0);
        devA.attach(d4k);
        devB.attach(d64k);

        DmaSharing sharing = new DmaSharing(memory);
        long size = 100 * 1024;
        boolean ok = true;
        try (SharedBuffer buffer = sharing.allocate(size, List.of(d4k, d64k))) {
            out.printf("dmashare demo: one %s buffer shared by two IOMMUs of different granules%n", Hex.size(size));
            out.printf("alignment A = %s, mapped length %s%n", Hex.size(buffer.alignment()), Hex.size(buffer.length()));
            out.println("physical blocks:");
            for (ScatterList.Segment s : buffer.blocks()) {
                out.printf("  %s (%s)%n", s, Hex.size(s.length()));
            }
            for (IommuDomain d : List.of(d4k, d64k)) {
                long iova = buffer.iova(d);
                Translation first = d.iommu().walk(0, iova).orElseThrow();
                out.printf("%-10s granule %-16s IOVA %s -> PA %s (leaf %s)%n", d.iommu().name(),
                        Hex.size(d.granule()), Hex.range(iova, buffer.length()), Hex.of(first.pa()),
                        Hex.size(first.pageSize()));
            }

            byte[] pattern = new byte[(int) size];
            for (int i = 0; i < pattern.length; i++) {
                pattern[i] = (byte) (i * 31 + 7);
            }
            buffer.write(0, pattern);
            boolean readA = Arrays.equals(devA.read(buffer.iova(d4k), (int) size), pattern);
            boolean readB = Arrays.equals(devB.read(buffer.iova(d64k), (int) size), pattern);
            byte[] reply = "written by the 64 KiB device".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            devB.write(buffer.iova(d64k) + 0x1_0000, reply);
            boolean crossed = Arrays.equals(devA.read(buffer.iova(d4k) + 0x1_0000, reply.length), reply);
            out.printf("CPU pattern read back by DMA through iommu-4k: %s%n", readA ? "equal" : "DIFFERENT");
            out.printf("CPU pattern read back by DMA through iommu-64k: %s%n", readB ? "equal" : "DIFFERENT");
            out.printf("iommu-64k device writes, iommu-4k device reads: %s%n", crossed ? "equal" : "DIFFERENT");
            ok = readA && readB && crossed;
        }
        out.printf("buffer closed: pages back in the allocator, %s in use by page tables only%n",
                Hex.size(memory.allocator().usage().tableBytes()));
        d4k.close();
        d64k.close();
        out.println(ok ? "all checks passed" : "CHECKS FAILED");
        return ok ? 0 : 1;
    }
}
