package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/** map_sg's layout (padding) and __finalise_sg's merge rules beyond the reference scenarios. */
class LayoutRulesTest {

    private static SgTable table(Rig rig, long[][] segments) {
        List<ScatterList.Segment> list = new ArrayList<>();
        for (long[] s : segments) {
            long block = Long.highestOneBit(Math.max(0x1000, s[1] - 1) << 1);
            rig.memory.allocator().allocateAt(s[0] & -block, block, PageUse.BUFFER);
            list.add(new ScatterList.Segment(s[0], s[1]));
        }
        return SgTable.of(ScatterList.of(list), 4096);
    }

    private static LinuxDevice secondDevice(Rig rig, DeviceParams params) {
        DmaDevice d = rig.piodmaIommu.device(1);
        d.attach(rig.piodmaDomain);
        return rig.dma.probe(d, params);
    }

    @Test
    void maxSegmentSizeSplitsDmaSegmentsButKeepsTheIovaContiguous() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        LinuxDevice small = secondDevice(rig, DeviceParams.platform("small-seg").withMaxSegmentSize(0x4000));
        SgTable sgt = table(rig, new long[][] {{0x8_1234_0000L, 0x4000}, {0x8_2000_8000L, 0x1000}});

        small.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFF_8000L, 0x4000), new DmaSegment(0xFFFF_C000L, 0x1000));
    }

    @Test
    void eightGranuleEntriesBecomeTwoSixtyFourKibSegmentsBackToBack() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        long[][] segs = new long[8][];
        for (int i = 0; i < 8; i++) {
            segs[i] = new long[] {0x8_4000_0000L + i * 0x10_0000L, 0x4000};
        }
        SgTable sgt = table(rig, segs);

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.nents()).isEqualTo(2);
        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFE_0000L, 0x10000), new DmaSegment(0xFFFF_0000L, 0x10000));
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).isClean()).isTrue();
    }

    @Test
    void segmentBoundaryPaddingIsMappedToTheMemoryAfterThePreviousEntryAndExposed() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        LinuxDevice bounded = secondDevice(rig, DeviceParams.platform("bounded").withSegmentBoundaryMask(0x7FFF));
        long x = 0x8_1234_0000L;
        long z = 0x8_7000_0000L;
        SgTable sgt = table(rig, new long[][] {{x, 0x4000}, {z, 0x8000}});

        bounded.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFF_0000L, 0x4000), new DmaSegment(0xFFFF_8000L, 0x8000));
        assertThat(sgt.entry(0).length()).isEqualTo(0x4000);
        assertThat(rig.walk(bounded, 0xFFFF_4000L)).isEqualTo(x + 0x4000);
        assertThat(ExposureReport.forMapping(bounded, sgt).exposed())
                .containsExactly(new ExposureReport.Exposure(0xFFFF_4000L, x + 0x4000, 0x4000, Prot.READ_WRITE, false));
        // what sits there is whatever the buddy allocator put next to X: here one of the IOMMU's own
        // page-table pages (smallest free order first), now writable by the device
        assertThat(rig.memory.allocator().allocatedBlocks())
                .contains(new PageAllocator.Block(x + 0x4000, 0x4000, PageUse.PAGE_TABLE));
    }

    @Test
    void entryNotEndingOnItsGranuleClosesTheSegmentEvenWhenTheNextStartsOnOne() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = table(rig, new long[][] {{0x8_4000_0000L, 0x3000}, {0x8_5000_0000L, 0x4000}});

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFF_8000L, 0x3000), new DmaSegment(0xFFFF_C000L, 0x4000));
    }

    @Test
    void upstreamTakesTheGranuleOffsetFromTheInPageOffset() {
        Rig rig = new Rig(Profile.UPSTREAM, "lpae-4k", -1L);
        SgTable sgt = table(rig, new long[][] {{0x8_4000_0100L, 0x200}, {0x8_5000_0000L, 0x1000}});

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFF_E100L, 0x200), new DmaSegment(0xFFFF_F000L, 0x1000));
        assertThat(sgt.entry(0).phys()).isEqualTo(0x8_4000_0100L);
        assertThat(sgt.entry(0).length()).isEqualTo(0x200);
    }
}
