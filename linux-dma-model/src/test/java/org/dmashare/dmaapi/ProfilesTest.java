package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/** How the three profiles differ (iommu-dma.md "Outcome under the other profiles"). */
class ProfilesTest {
    private static final long X = 0x8_1234_0000L;
    private static final long Y = 0x8_2000_8000L;

    @Test
    void guardedSeriesRefusesGetSgtableWithEnxioButDcpExposureRemains() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE);
        rig.pages.then(X).then(Y);
        CoherentBuffer buf = rig.dcp.allocCoherent(0x5000, Gfp.KERNEL);

        assertThatThrownBy(() -> rig.dcp.getSgtable(buf))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENXIO))
                .satisfies(e ->
                        assertThat(((DmaApiException) e).errno().negative()).isEqualTo(-6));
        assertThat(ExposureReport.forBuffer(buf).exposedBytes()).isEqualTo(0x3000);
        assertThat(rig.piodmaIommu.walk(0, 0xFFFF_8000L)).isEmpty();
    }

    @Test
    void upstreamRefusesAGranuleLargerThanThePageAtProbe() {
        Rig rig = new Rig(Profile.UPSTREAM);

        assertThatThrownBy(() -> rig.dma.probe(rig.dcpIommu.device(0), DeviceParams.platform("dcp")))
                .isInstanceOf(DmaApiException.class)
                .hasMessageContaining("16 KiB (0x4000)")
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.EINVAL));
    }

    @Test
    void upstreamWithFourKibGranuleMapsScatteredPagesContiguouslyWithoutExposure() {
        Rig rig = new Rig(Profile.UPSTREAM, "lpae-4k", -1L);
        long[] pas = {0x8_4000_3000L, 0x8_5000_0000L, 0x8_6000_2000L};
        for (long p : pas) {
            rig.memory.allocator().allocateAt(p, 0x1000, PageUse.BUFFER);
        }
        SgTable sgt = SgTable.of(
                ScatterList.of(
                        new ScatterList.Segment(pas[0], 0x1000),
                        new ScatterList.Segment(pas[1], 0x1000),
                        new ScatterList.Segment(pas[2], 0x1000)),
                4096);

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        // 3 granules of 4 KiB, rounded to 4: 0xFFFF_C000
        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_C000L, 0x3000));
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).isClean()).isTrue();
    }

    @Test
    void upstreamRemapPathOnFourKibGranuleGivesOneRangeAndNoExposure() {
        Rig rig = new Rig(Profile.UPSTREAM, "lpae-4k", -1L);
        long usedBefore = rig.memory.allocator().usage().bufferBytes();

        CoherentBuffer buf = rig.dcp.allocCoherent(0x5000, Gfp.KERNEL);

        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_8000L); // 5 granules rounded to 8
        assertThat(rig.memory.allocator().usage().bufferBytes() - usedBefore).isEqualTo(0x5000);
        assertThat(ExposureReport.forBuffer(buf).isClean()).isTrue();
        SgTable sgt = rig.dcp.getSgtable(buf);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        assertThat(sgt.dmaSegments()).hasSize(1);
        assertThat(sgt.dmaSegments().get(0).length()).isEqualTo(0x5000);
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).isClean()).isTrue();
    }

    @Test
    void seriesOnAnLpaeDomainAdvertisingThirtyTwoMibBlocksCannotAllocateTheSpilloverBlock() {
        // lpae-16k advertises 16K|32M; the series sizes its spillover block from the highest
        // advertised order (13), which exceeds MAX_PAGE_ORDER, so a 20 KiB allocation fails.
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD, "lpae-16k", -1L);
        PageAllocator.Usage before = rig.memory.allocator().usage();

        assertThatThrownBy(() -> rig.dcp.allocCoherent(0x5000, Gfp.KERNEL))
                .isInstanceOf(DmaApiException.class)
                .satisfies(e -> assertThat(((DmaApiException) e).errno()).isEqualTo(Errno.ENOMEM));
        assertThat(rig.memory.allocator().usage()).isEqualTo(before);
        // a whole number of granules needs no spillover and works
        assertThat(rig.dcp.allocCoherent(0x8000, Gfp.KERNEL).dmaHandle()).isEqualTo(0xFFFF_8000L);
    }
}
