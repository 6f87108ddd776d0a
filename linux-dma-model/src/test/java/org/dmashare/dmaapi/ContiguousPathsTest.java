package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.EnumSet;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/** The contiguous coherent paths (atomic pool, page block), dma_map_single and the PCI 32-bit-first rule. */
class ContiguousPathsTest {

    @Test
    void atomicPoolAllocationIsOrderAlignedAndExposesItsNeighbourInThePool() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(0x8_3000_0000L); // the pool's 256 KiB chunk

        CoherentBuffer a = rig.dcp.allocCoherent(0x1000, Gfp.ATOMIC);
        CoherentBuffer b = rig.dcp.allocCoherent(0x2000, Gfp.ATOMIC);

        assertThat(a.path()).isEqualTo(CoherentBuffer.Path.ATOMIC_POOL);
        assertThat(a.firstPage()).isEqualTo(0x8_3000_0000L);
        assertThat(b.firstPage()).isEqualTo(0x8_3000_2000L);
        assertThat(b.dmaHandle()).isEqualTo(0xFFFF_A000L);
        // the granule around b holds a's page and a free pool page: both allocated memory, not b's
        assertThat(ExposureReport.forBuffer(b).exposed())
                .containsExactly(
                        new ExposureReport.Exposure(0xFFFF_8000L, 0x8_3000_0000L, 0x2000, Prot.READ_WRITE, false));
        assertThat(rig.dcp.getSgtable(b).entries())
                .containsExactly(new SgEntry(0x8_3000_2000L, 0, 0x2000, SgTable.DMA_MAPPING_ERROR, 0));
        rig.dcp.freeCoherent(a);
        rig.dcp.freeCoherent(b);
        assertThat(rig.walk(rig.dcp, 0xFFFF_8000L)).isEqualTo(-1);
    }

    @Test
    void forcedContiguousAllocationOwnsItsWholeBlockAndGetsAPageAlignedSingleEntry() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(0x8_3000_8000L);
        long before = rig.memory.allocator().usage().bufferBytes();

        CoherentBuffer buf = rig.dcp.allocCoherent(0x3000, Gfp.KERNEL, EnumSet.of(DmaAttr.FORCE_CONTIGUOUS));

        assertThat(buf.path()).isEqualTo(CoherentBuffer.Path.CONTIGUOUS_PAGES);
        assertThat(rig.memory.allocator().usage().bufferBytes() - before).isEqualTo(0x4000);
        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_C000L);
        assertThat(ExposureReport.forBuffer(buf).isClean()).isTrue();
        assertThat(rig.dcp.getSgtable(buf).cpuSegments())
                .isEqualTo(ScatterList.of(new ScatterList.Segment(0x8_3000_8000L, 0x3000)));
        rig.dcp.freeCoherent(buf);
        assertThat(rig.memory.allocator().usage().bufferBytes()).isEqualTo(before);
    }

    @Test
    void cmaAllocationOwnsExactlyItsPagesAndExposesTheTailOfItsGranule() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        IommuDma withCma = IommuDma.builder(rig.memory)
                .profile(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD)
                .pageSizeMask(Rig.DART_PAGE_SIZES)
                .cmaArea(0x8_3000_0000L, 0x10_0000)
                .build();
        DmaDevice d = rig.dcpIommu.device(1);
        d.attach(rig.dcpIommu.createDomain());
        LinuxDevice dev = withCma.probe(d, DeviceParams.platform("dcp-cma"));
        EnumSet<DmaAttr> contiguous = EnumSet.of(DmaAttr.FORCE_CONTIGUOUS);

        CoherentBuffer twelve = dev.allocCoherent(0x3000, Gfp.KERNEL, contiguous);
        CoherentBuffer eight = dev.allocCoherent(0x2000, Gfp.KERNEL, contiguous);

        assertThat(twelve.path()).isEqualTo(CoherentBuffer.Path.CMA);
        assertThat(twelve.firstPage()).isEqualTo(0x8_3000_0000L);
        assertThat(twelve.dmaHandle()).isEqualTo(0xFFFF_C000L);
        assertThat(ExposureReport.forBuffer(twelve).exposed())
                .containsExactly(
                        new ExposureReport.Exposure(0xFFFF_F000L, 0x8_3000_3000L, 0x1000, Prot.READ_WRITE, false));
        // 2 pages aligned to 2 pages: the first free run after the 12 KiB is at 0x4000
        assertThat(eight.firstPage()).isEqualTo(0x8_3000_4000L);
        assertThat(eight.dmaHandle()).isEqualTo(0xFFFF_8000L);
        assertThat(ExposureReport.forBuffer(eight).exposedBytes()).isEqualTo(0x2000);
        dev.freeCoherent(twelve);
        assertThat(dev.allocCoherent(0x3000, Gfp.KERNEL, contiguous).firstPage())
                .isEqualTo(0x8_3000_0000L);
    }

    @Test
    void mapSingleReturnsIovaPlusGranuleOffsetAndExposesTheRestOfTheGranule() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        long phys = 0x8_3000_6100L;

        long handle = rig.piodma.mapSingle(phys, 0x100, DataDirection.TO_DEVICE);

        assertThat(handle).isEqualTo(0xFFFF_E100L);
        ExposureReport r = ExposureReport.scan(
                rig.piodma.dmaDevice(), 0xFFFF_C000L, 0x4000, ScatterList.of(new ScatterList.Segment(phys, 0x100)));
        assertThat(r.exposedBytes()).isEqualTo(0x4000 - 0x100);
        assertThat(r.exposed()).allSatisfy(e -> assertThat(e.prot()).isEqualTo(Prot.READ));
        rig.piodma.unmapSingle(handle, 0x100, DataDirection.TO_DEVICE);
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(-1);
    }

    @Test
    void pciDevicesTryBelowFourGibFirstUnlessForcedac() {
        PhysicalMemory memory = PhysicalMemory.create(Rig.BASE, 1L << 30, 4096);
        Iommu iommu = IommuBackends.find("generic")
                .create(IommuConfig.builder("lpae-16k").inputBits(48).build(), memory);
        DmaDevice pciDev = iommu.device(0);
        DmaDevice platDev = iommu.device(1);
        pciDev.attach(iommu.createDomain());
        platDev.attach(iommu.createDomain());
        long all = -1L;
        IommuDma dma = IommuDma.builder(memory)
                .profile(Profile.ASAHI_GRANULE)
                .pageSizeMask(Rig.DART_PAGE_SIZES)
                .build();
        LinuxDevice pci =
                dma.probe(pciDev, DeviceParams.platform("nvme").withMasks(all).withPci(true));
        LinuxDevice plat = dma.probe(platDev, DeviceParams.platform("plat").withMasks(all));

        assertThat(pci.mapSingle(Rig.BASE, 0x1000, DataDirection.BIDIRECTIONAL)).isEqualTo(0xFFFF_C000L);
        assertThat(plat.mapSingle(Rig.BASE, 0x1000, DataDirection.BIDIRECTIONAL))
                .isEqualTo(0xFFFF_FFFF_C000L);

        Iommu other = IommuBackends.find("generic")
                .create(IommuConfig.builder("lpae-16k").inputBits(48).build(), memory);
        other.device(0).attach(other.createDomain());
        IommuDma forced = IommuDma.builder(memory)
                .profile(Profile.ASAHI_GRANULE)
                .forceDac(true)
                .build();
        LinuxDevice dac = forced.probe(
                other.device(0), DeviceParams.platform("nvme").withMasks(all).withPci(true));
        assertThat(dac.mapSingle(Rig.BASE, 0x1000, DataDirection.BIDIRECTIONAL)).isEqualTo(0xFFFF_FFFF_C000L);
    }
}
