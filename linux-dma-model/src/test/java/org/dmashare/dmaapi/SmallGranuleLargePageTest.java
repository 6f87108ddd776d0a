package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/**
 * A 16 KiB-page kernel with a 4 KiB-granule IOMMU (G &lt; P). The series rebuilds an entry's
 * page and offset from the granule start plus the stashed granule offset, keeping only
 * {@code off & (PAGE_SIZE - 1)} as the offset: when G &lt; P that drops the part of the in-page
 * offset above the granule. Upstream adds the stashed offset back and restores the entry.
 */
class SmallGranuleLargePageTest {
    private static final long PA = 0x8_4000_1100L;

    private static LinuxDevice device(Profile profile, PhysicalMemory memory) {
        Iommu iommu = IommuBackends.find("generic")
                .create(IommuConfig.builder("lpae-4k").inputBits(32).build(), memory);
        iommu.device(0).attach(iommu.createDomain());
        return IommuDma.builder(memory).profile(profile).build().probe(iommu.device(0), DeviceParams.platform("dev"));
    }

    private static SgTable mapOneEntry(Profile profile) {
        PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 2L << 30, 16384);
        memory.allocator().allocateAt(PA & -16384L, 16384, PageUse.BUFFER);
        byte[] data = {1, 2, 3, 4};
        memory.write(PA, data);
        LinuxDevice dev = device(profile, memory);
        SgTable sgt = SgTable.of(ScatterList.of(new ScatterList.Segment(PA, 0x200)), 16384);

        dev.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments().get(0).address()).isEqualTo(0xFFFF_F100L);
        assertThat(dev.dmaDevice().read(0xFFFF_F100L, 4))
                .as("the device side is right")
                .isEqualTo(data);
        return sgt;
    }

    @Test
    void seriesLosesTheInPageOffsetAboveTheGranuleWhenRestoringTheEntry() {
        SgTable sgt = mapOneEntry(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);

        assertThat(sgt.entry(0).page()).isEqualTo(0x8_4000_0000L);
        assertThat(sgt.entry(0).offset()).isEqualTo(0x100);
        assertThat(sgt.entry(0).phys()).isNotEqualTo(PA);
    }

    @Test
    void upstreamRestoresTheEntryExactly() {
        SgTable sgt = mapOneEntry(Profile.UPSTREAM);

        assertThat(sgt.entry(0).phys()).isEqualTo(PA);
        assertThat(sgt.entry(0).offset()).isEqualTo(0x1100);
    }
}
