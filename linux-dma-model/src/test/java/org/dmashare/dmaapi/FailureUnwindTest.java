package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/** Failed calls undo their own work the way the kernel does (__invalidate_sg, page and IOVA frees). */
class FailureUnwindTest {

    @Test
    void mapSgRefusedByTheIommuRestoresTheTableUnmapsAndReturnsEinval() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = rig.scenarioC2Table();
        List<SgEntry> before = sgt.entries();
        IovaAllocator.Snapshot iovas = rig.piodmaDomain.iovaSpace().snapshot();
        rig.memory.failures().failNth(FailureInjector.Point.MAP, 2);

        assertThatThrownBy(() -> rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.EINVAL));

        assertThat(sgt.entries()).isEqualTo(before);
        assertThat(sgt.nents()).isEqualTo(3);
        assertThat(rig.walk(rig.piodma, 0xFFFF_0000L)).isEqualTo(-1);
        // the IOVA went back through free_iova_fast: parked in the range cache, then reusable
        assertThat(rig.piodma.iovaDomain().cachedRanges()).isEqualTo(1);
        rig.piodma.iovaDomain().freeAllCached();
        assertThat(rig.piodmaDomain.iovaSpace().snapshot()).isEqualTo(iovas);
    }

    @Test
    void unmappingATableTwiceWarnsAndCachesItsIovaTwiceSoTwoLaterMappingsCollide() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable first = rig.scenarioC2Table();
        rig.piodma.mapSgtable(first, DataDirection.BIDIRECTIONAL);
        rig.piodma.unmapSgtable(first, DataDirection.BIDIRECTIONAL);

        rig.piodma.unmapSgtable(first, DataDirection.BIDIRECTIONAL);

        assertThat(rig.dma.warnings()).singleElement().asString().contains("removed 0x0 bytes");
        assertThat(rig.piodma.iovaDomain().cachedRanges()).isEqualTo(2);
        rig.piodma.mapSgtable(first, DataDirection.BIDIRECTIONAL);
        SgTable second = SgTable.of(
                ScatterList.of(
                        new ScatterList.Segment(0x8_4000_8000L, 0x1000),
                        new ScatterList.Segment(0x8_4001_0000L, 0x8000)),
                4096);
        assertThatThrownBy(() -> rig.piodma.mapSgtable(second, DataDirection.BIDIRECTIONAL))
                .isInstanceOf(DmaApiException.class)
                .hasMessageContaining("already mapped")
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.EINVAL));
        assertThat(rig.walk(rig.piodma, 0xFFFF_0000L)).isEqualTo(0x8_4000_0000L);
    }

    @Test
    void mapSgWithNoIovaBelowTheMaskReturnsEnomemAndRestoresTheTable() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        // a second device in piodma's domain whose mask leaves one granule (0x4000..0x7FFF)
        LinuxDevice tiny =
                rig.dma.probe(attach(rig), DeviceParams.platform("tiny").withMasks(0x7FFF));
        SgTable sgt = rig.scenarioC2Table();
        List<SgEntry> before = sgt.entries();

        assertThatThrownBy(() -> tiny.mapSgtable(sgt, DataDirection.TO_DEVICE))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENOMEM));
        assertThat(sgt.entries()).isEqualTo(before);
        assertThat(rig.piodma.iovaDomain().liveRanges()).isEmpty();
    }

    private static DmaDevice attach(Rig rig) {
        DmaDevice d = rig.piodmaIommu.device(1);
        d.attach(rig.piodmaDomain);
        return d;
    }

    @Test
    void coherentAllocationWhosePagesRunOutFreesWhatItGathered() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        PageAllocator.Usage before = rig.memory.allocator().usage();
        rig.memory.failures().failNth(FailureInjector.Point.PAGE_ALLOCATION, 2);

        assertThatThrownBy(() -> rig.dcp.allocCoherent(0x5000, Gfp.KERNEL))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENOMEM));
        assertThat(rig.memory.allocator().usage()).isEqualTo(before);
        assertThat(rig.dcp.iovaDomain().liveRanges()).isEmpty();
    }

    @Test
    void coherentAllocationWithoutIovaSpaceReturnsItsPages() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        LinuxDevice dev =
                rig.dma.probe(attach(rig), DeviceParams.platform("tiny").withMasks(0x7FFF));
        PageAllocator.Usage before = rig.memory.allocator().usage();

        assertThatThrownBy(() -> dev.allocCoherent(0x8000, Gfp.KERNEL))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENOMEM));
        assertThat(rig.memory.allocator().usage()).isEqualTo(before);
    }

    @Test
    void coherentAllocationWhoseMapFailsUndoesEverything() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(0x8_1234_0000L).then(0x8_2000_8000L);
        PageAllocator.Usage before = rig.memory.allocator().usage();
        rig.memory.failures().failNth(FailureInjector.Point.MAP, 2);

        assertThatThrownBy(() -> rig.dcp.allocCoherent(0x5000, Gfp.KERNEL))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENOMEM));
        PageAllocator.Usage after = rig.memory.allocator().usage();
        assertThat(after.bufferBytes()).as("every page back").isEqualTo(before.bufferBytes());
        assertThat(rig.walk(rig.dcp, 0xFFFF_8000L)).isEqualTo(-1);
        // The first page's map succeeded and iommu_unmap undid it: the legacy path shares the
        // domain, so the table that map allocated stays, as io-pgtable-dart keeps it, mapping nothing.
        IoPageTable table = ((PagingDomain) rig.dcpDomain).table();
        assertThat(PageTableWalker.leaves(rig.memory, table.format(), table.rootPa()))
                .isEmpty();
        assertThat(after.tableBytes() - before.tableBytes())
                .as("the kept table pages")
                .isEqualTo((table.tablePages().size() - 1) * table.tablePageBytes())
                .isPositive();
    }
}
