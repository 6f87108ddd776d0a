package org.dmashare.dmaapi;

import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ScatterList;

/**
 * The reference's set-up (iommu-dma.md section 5): PAGE_SIZE 4 KiB, two IOMMUs ("dcp" and
 * "piodma") with separate fresh 16 KiB-granule domains and a 32-bit IOVA space. The generic
 * backend's lpae-16k variant stands in for Apple's DART (same granule); like the DART driver the
 * model is told to see only the 16 KiB page size.
 */
final class Rig {
    static final long BASE = 0x8_0000_0000L;
    static final long DART_PAGE_SIZES = 0x4000;

    final PhysicalMemory memory;
    final ScriptedPageSource pages;
    final IommuDma dma;
    final Iommu dcpIommu;
    final Iommu piodmaIommu;
    final IommuDomain dcpDomain;
    final IommuDomain piodmaDomain;
    final LinuxDevice dcp;
    final LinuxDevice piodma;

    Rig(Profile profile) {
        this(profile, "lpae-16k", DART_PAGE_SIZES);
    }

    Rig(Profile profile, String variant, long pageSizeMask) {
        memory = PhysicalMemory.create(BASE, 2L << 30, 4096);
        pages = new ScriptedPageSource(memory);
        dma = IommuDma.builder(memory)
                .profile(profile)
                .pageSource(pages)
                .pageSizeMask(pageSizeMask)
                .build();
        dcpIommu = IommuBackends.find("generic")
                .create(
                        IommuConfig.builder(variant)
                                .name("dcp-dart")
                                .inputBits(32)
                                .build(),
                        memory);
        piodmaIommu = IommuBackends.find("generic")
                .create(
                        IommuConfig.builder(variant)
                                .name("disp-dart")
                                .inputBits(32)
                                .build(),
                        memory);
        dcpDomain = dcpIommu.createDomain();
        piodmaDomain = piodmaIommu.createDomain();
        DmaDevice d = dcpIommu.device(0);
        DmaDevice p = piodmaIommu.device(0);
        d.attach(dcpDomain);
        p.attach(piodmaDomain);
        LinuxDevice dd = null;
        LinuxDevice pp = null;
        if (profile != Profile.UPSTREAM || !variant.equals("lpae-16k")) {
            dd = dma.probe(d, DeviceParams.platform("dcp"));
            pp = dma.probe(p, DeviceParams.platform("piodma"));
        }
        dcp = dd;
        piodma = pp;
    }

    /** The physical address a device reaches at {@code iova}, walking the tables in memory; -1 if none. */
    long walk(LinuxDevice device, long iova) {
        DmaDevice d = device.dmaDevice();
        return d.iommu().walk(d.streamId(), iova).map(t -> t.pa()).orElse(-1L);
    }

    /**
     * The reference's scenario C2 table: three scattered 4 KiB pages (offsets 0x3000, 0 and
     * 0x2000 in their 16 KiB granules), claimed from this rig's allocator.
     */
    SgTable scenarioC2Table() {
        long[] pas = {0x8_4000_3000L, 0x8_5000_0000L, 0x8_6000_2000L};
        for (long p : pas) {
            memory.allocator().allocateAt(p, 0x1000, PageUse.BUFFER);
        }
        return SgTable.of(
                ScatterList.of(
                        new ScatterList.Segment(pas[0], 0x1000),
                        new ScatterList.Segment(pas[1], 0x1000),
                        new ScatterList.Segment(pas[2], 0x1000)),
                4096);
    }

    static byte[] pattern(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed + (i >> 8));
        }
        return b;
    }
}
