package org.example.consumer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;

/** The README's "Using the library", as a program: one buffer, three devices behind three IOMMUs. */
public final class UsingTheLibrary {
    private UsingTheLibrary() {
    }

    /**
     * Shares a buffer between a GPU (4 KiB pages) and a display controller (a 16 KiB Apple DART),
     * then late-shares it with a camera (16 KiB pages).
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 4096);  // base, size, PAGE_SIZE
        Iommu gpu = IommuBackends.find("generic")                                         // found with ServiceLoader
                .create(IommuConfig.builder("lpae-4k").name("gpu").build(), memory);
        Iommu dcp = IommuBackends.find("apple-dart")
                .create(IommuConfig.builder("t8020").name("dcp").build(), memory);
        Iommu isp = IommuBackends.find("generic")
                .create(IommuConfig.builder("lpae-16k").name("isp").build(), memory);
        IommuDomain gpuDomain = gpu.createDomain();
        IommuDomain dcpDomain = dcp.createDomain();
        IommuDomain ispDomain = isp.createDomain();
        gpu.device(0).attach(gpuDomain);                    // stream 0 of each unit translates
        dcp.device(0).attach(dcpDomain);                    // through its domain's page table
        isp.device(0).attach(ispDomain);

        DmaSharing sharing = new DmaSharing(memory);
        byte[] frame = "one frame, seen alike by every device".getBytes(StandardCharsets.US_ASCII);
        try (SharedBuffer buf = sharing.allocate(100 * 1024, List.of(gpuDomain, dcpDomain))) {
            buf.write(0, frame);                                                 // the CPU writes
            byte[] seen = dcp.device(0).read(buf.iova(dcpDomain), frame.length);  // DMA through the DART
            long ispIova = buf.shareWith(ispDomain);        // late sharing: 16 KiB divides A = 16 KiB
            byte[] seenToo = isp.device(0).read(ispIova, frame.length);
            System.out.printf("A = %d, gpu 0x%x, dcp 0x%x, isp 0x%x, equal %b%n", buf.alignment(),
                    buf.iova(gpuDomain), buf.iova(dcpDomain), ispIova,
                    Arrays.equals(seen, frame) && Arrays.equals(seenToo, frame));
        }                                                   // unmapped, flushed, then freed
    }
}
