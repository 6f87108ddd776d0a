package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.assertj.core.groups.Tuple;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.sharing.ScatterList;
import org.junit.jupiter.api.Test;

/**
 * The worked scenarios of iommu-dma.md section 5 under {@link Profile#ASAHI_GRANULE_NO_SGTABLE_GUARD}:
 * every number the reference gives (pages, IOVAs, entries, DMA segments, exposed bytes) is
 * reproduced by running the modelled calls, and checked against the page tables in memory.
 */
class ReferenceScenariosTest {
    private static final long X = 0x8_1234_0000L;
    private static final long Y = 0x8_2000_8000L;
    private static final Prot RW = Prot.READ_WRITE;

    private static SgEntry cpuEntry(long page, long offset, long length) {
        return new SgEntry(page, offset, length, SgTable.DMA_MAPPING_ERROR, 0);
    }

    @Test
    void scenarioASixteenKibBufferIsOneSegmentWithNoExposure() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(X);

        CoherentBuffer buf = rig.dcp.allocCoherent(0x4000, Gfp.KERNEL);

        assertThat(buf.path()).isEqualTo(CoherentBuffer.Path.REMAP);
        assertThat(buf.pages()).containsExactly(X, X + 0x1000, X + 0x2000, X + 0x3000);
        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_C000L);
        assertThat(rig.walk(rig.dcp, 0xFFFF_C000L)).isEqualTo(X);
        assertThat(rig.walk(rig.dcp, 0xFFFF_FFF8L)).isEqualTo(X + 0x3FF8);
        assertThat(ExposureReport.forBuffer(buf).isClean()).isTrue();

        SgTable sgt = rig.dcp.getSgtable(buf);
        assertThat(sgt.entries()).containsExactly(cpuEntry(X, 0, 0x4000));

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.nents()).isEqualTo(1);
        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_C000L, 0x4000));
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(X);
        ExposureReport pio = ExposureReport.forMapping(rig.piodma, sgt);
        assertThat(pio.isClean()).isTrue();
        assertThat(pio.reachableBytes()).isEqualTo(0x4000);

        byte[] data = Rig.pattern(0x4000, 1);
        buf.write(0, data);
        assertThat(rig.piodma.dmaDevice().read(0xFFFF_C000L, 0x4000)).isEqualTo(data);
    }

    @Test
    void scenarioAThirtyTwoKibFromTwoScatteredBlocksMergesIntoOneSegment() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(X).then(Y - 0x8000);

        CoherentBuffer buf = rig.dcp.allocCoherent(0x8000, Gfp.KERNEL);
        SgTable sgt = rig.dcp.getSgtable(buf);
        assertThat(sgt.entries()).containsExactly(cpuEntry(X, 0, 0x4000), cpuEntry(Y - 0x8000, 0, 0x4000));

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_8000L, 0x8000));
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).isClean()).isTrue();
        assertThat(ExposureReport.forBuffer(buf).isClean()).isTrue();
    }

    @Test
    void scenarioBTwentyKibExposesFreedSpilloverToBothDevices() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(X).then(Y);
        long bufferBytesBefore = rig.memory.allocator().usage().bufferBytes();

        CoherentBuffer buf = rig.dcp.allocCoherent(0x5000, Gfp.KERNEL);

        // pages: block X whole, first page of spillover block Y; Y's other three pages freed at once
        assertThat(buf.pages()).containsExactly(X, X + 0x1000, X + 0x2000, X + 0x3000, Y);
        for (long p = Y + 0x1000; p < Y + 0x4000; p += 0x1000) {
            assertThat(rig.memory.allocator().isAllocated(p, 0x1000))
                    .as("spillover page %x", p)
                    .isFalse();
        }
        assertThat(rig.memory.allocator().usage().bufferBytes() - bufferBytesBefore)
                .isEqualTo(0x5000);

        // dcp: 2 granules at 0xFFFF_8000, the second one covering all of Y
        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_8000L);
        assertThat(rig.walk(rig.dcp, 0xFFFF_8000L)).isEqualTo(X);
        assertThat(rig.walk(rig.dcp, 0xFFFF_C000L)).isEqualTo(Y);
        assertThat(rig.walk(rig.dcp, 0xFFFF_D000L)).isEqualTo(Y + 0x1000);
        ExposureReport dcpReport = ExposureReport.forBuffer(buf);
        assertThat(dcpReport.exposed())
                .containsExactly(new ExposureReport.Exposure(0xFFFF_D000L, 0x8_2000_9000L, 0x3000, RW, true));

        SgTable sgt = rig.dcp.getSgtable(buf);
        assertThat(sgt.entries()).containsExactly(cpuEntry(X, 0, 0x4000), cpuEntry(Y, 0, 0x1000));

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.nents()).isEqualTo(1);
        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_8000L, 0x5000));
        assertThat(rig.walk(rig.piodma, 0xFFFF_8000L)).isEqualTo(X);
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(Y);
        ExposureReport pioReport = ExposureReport.forMapping(rig.piodma, sgt);
        assertThat(pioReport.exposed())
                .containsExactly(new ExposureReport.Exposure(0xFFFF_D000L, 0x8_2000_9000L, 0x3000, RW, true));
        assertThat(pioReport.exposedBytes()).isEqualTo(0x3000);
        // the same, scanning every IOVA range each device's domain holds
        assertThat(ExposureReport.forDevice(rig.dcp, buf.ownedRanges()).exposed())
                .isEqualTo(dcpReport.exposed());
        assertThat(ExposureReport.forDevice(rig.piodma, sgt.cpuSegments()).exposed())
                .isEqualTo(pioReport.exposed());

        // contiguous for piodma: the naive flat use works
        byte[] data = Rig.pattern(0x5000, 2);
        buf.write(0, data);
        assertThat(rig.piodma.dmaDevice().read(0xFFFF_8000L, 0x5000)).isEqualTo(data);
    }

    @Test
    void scenarioBFreedSpilloverHandedToAnotherOwnerIsReadableAndWritableByBothDevices() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(X).then(Y);
        CoherentBuffer buf = rig.dcp.allocCoherent(0x5000, Gfp.KERNEL);
        SgTable sgt = rig.dcp.getSgtable(buf);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        // the page allocator gives a freed spillover page to someone else, who stores a secret
        long victim = rig.memory
                .allocator()
                .allocateAt(Y + 0x2000, 0x1000, PageUse.BUFFER)
                .pa();
        byte[] secret = "another owner's data".getBytes(StandardCharsets.US_ASCII);
        rig.memory.write(victim, secret);

        assertThat(rig.dcp.dmaDevice().read(0xFFFF_E000L, secret.length)).isEqualTo(secret);
        assertThat(rig.piodma.dmaDevice().read(0xFFFF_E000L, secret.length)).isEqualTo(secret);
        rig.piodma.dmaDevice().write(0xFFFF_E000L, new byte[] {'X'});
        assertThat(rig.memory.read(victim, 1)).containsExactly('X');
        ExposureReport now = ExposureReport.forMapping(rig.piodma, sgt);
        assertThat(now.exposed())
                .extracting(ExposureReport.Exposure::pa, ExposureReport.Exposure::free)
                .containsExactly(
                        Tuple.tuple(Y + 0x1000, true), Tuple.tuple(Y + 0x2000, false), Tuple.tuple(Y + 0x3000, true));
    }

    @Test
    void scenarioBUnmapAndFreeRemoveEveryTranslationAndReturnEveryPage() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(X).then(Y);
        long bufferBytesBefore = rig.memory.allocator().usage().bufferBytes();
        CoherentBuffer buf = rig.dcp.allocCoherent(0x5000, Gfp.KERNEL);
        SgTable sgt = rig.dcp.getSgtable(buf);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        rig.piodma.unmapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        assertThat(rig.walk(rig.piodma, 0xFFFF_8000L)).isEqualTo(-1);
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(-1);
        // the 32 KiB IOVA range sits in the range cache (size class 1) and is reused first
        assertThat(rig.piodma.iovaDomain().cachedRanges()).isEqualTo(1);
        assertThat(rig.piodma.iovaDomain().liveRanges()).containsEntry(0xFFFF_8000L >>> 14, 2L);

        rig.dcp.freeCoherent(buf);
        assertThat(rig.walk(rig.dcp, 0xFFFF_8000L)).isEqualTo(-1);
        assertThat(rig.walk(rig.dcp, 0xFFFF_D000L)).isEqualTo(-1);
        assertThat(rig.memory.allocator().usage().bufferBytes()).isEqualTo(bufferBytesBefore);
        assertThat(rig.dma.warnings()).isEmpty();
    }

    @Test
    void scenarioC1EightKibBlockAtGranuleOffsetExposesTheEightKibBeforeItToBothDevices() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        long pa = 0x8_3000_6000L;
        rig.pages.then(pa);

        CoherentBuffer buf = rig.dcp.allocCoherent(0x2000, Gfp.KERNEL);

        assertThat(buf.pages()).containsExactly(pa, pa + 0x1000);
        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_E000L);
        assertThat(rig.walk(rig.dcp, 0xFFFF_C000L)).isEqualTo(0x8_3000_4000L);
        assertThat(ExposureReport.forBuffer(buf).exposed())
                .containsExactly(new ExposureReport.Exposure(0xFFFF_C000L, 0x8_3000_4000L, 0x2000, RW, true));

        SgTable sgt = rig.dcp.getSgtable(buf);
        assertThat(sgt.entries()).containsExactly(cpuEntry(pa, 0, 0x2000));
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_E000L, 0x2000));
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(0x8_3000_4000L);
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).exposed())
                .containsExactly(new ExposureReport.Exposure(0xFFFF_C000L, 0x8_3000_4000L, 0x2000, RW, true));
        // the table entry is restored to its CPU view after mapping
        assertThat(sgt.entry(0).phys()).isEqualTo(pa);
        assertThat(sgt.entry(0).length()).isEqualTo(0x2000);
    }

    @Test
    void scenarioC1UnmapAndFreeRemoveTheWholeGranuleInBothDomains() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        rig.pages.then(0x8_3000_6000L);
        long bufferBytesBefore = rig.memory.allocator().usage().bufferBytes();
        CoherentBuffer buf = rig.dcp.allocCoherent(0x2000, Gfp.KERNEL);
        SgTable sgt = rig.dcp.getSgtable(buf);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        rig.piodma.unmapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        rig.dcp.freeCoherent(buf);

        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(-1);
        assertThat(rig.walk(rig.dcp, 0xFFFF_C000L)).isEqualTo(-1);
        assertThat(rig.dma.warnings()).isEmpty();
        assertThat(rig.memory.allocator().usage().bufferBytes()).isEqualTo(bufferBytesBefore);
        assertThat(buf.isFreed()).isTrue();
    }

    @Test
    void scenarioC1FourKibPageExposesTwelveKibAroundIt() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        long pa = 0x8_3000_5000L;
        rig.pages.then(pa);

        CoherentBuffer buf = rig.dcp.allocCoherent(0x1000, Gfp.KERNEL);
        SgTable sgt = rig.dcp.getSgtable(buf);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(buf.dmaHandle()).isEqualTo(0xFFFF_D000L);
        assertThat(sgt.dmaSegments()).containsExactly(new DmaSegment(0xFFFF_D000L, 0x1000));
        List<ExposureReport.Exposure> expected = List.of(
                new ExposureReport.Exposure(0xFFFF_C000L, 0x8_3000_4000L, 0x1000, RW, true),
                new ExposureReport.Exposure(0xFFFF_E000L, 0x8_3000_6000L, 0x2000, RW, true));
        assertThat(ExposureReport.forBuffer(buf).exposed()).isEqualTo(expected);
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).exposed()).isEqualTo(expected);
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).exposedBytes()).isEqualTo(0x3000);
    }

    @Test
    void scenarioC2ScatteredPagesGiveTwoSegmentsAndThirtySixKibExposure() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = rig.scenarioC2Table();
        List<SgEntry> before = sgt.entries();

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(sgt.nents()).isEqualTo(2);
        assertThat(sgt.dmaSegments())
                .containsExactly(new DmaSegment(0xFFFF_3000L, 0x2000), new DmaSegment(0xFFFF_A000L, 0x1000));
        assertThat(sgt.cpuSegments())
                .isEqualTo(ScatterList.of(before.stream()
                        .map(e -> new ScatterList.Segment(e.phys(), e.length()))
                        .toList()));
        // 3 granules rounded to 4: a 64 KiB-aligned range, its last granule reserved but unmapped
        assertThat(rig.piodma.iovaDomain().liveRanges()).containsExactly(Map.entry(0xFFFF_0000L >>> 14, 4L));
        assertThat(rig.walk(rig.piodma, 0xFFFF_0000L)).isEqualTo(0x8_4000_0000L);
        assertThat(rig.walk(rig.piodma, 0xFFFF_4000L)).isEqualTo(0x8_5000_0000L);
        assertThat(rig.walk(rig.piodma, 0xFFFF_8000L)).isEqualTo(0x8_6000_0000L);
        assertThat(rig.walk(rig.piodma, 0xFFFF_C000L)).isEqualTo(-1);

        ExposureReport report = ExposureReport.forMapping(rig.piodma, sgt);
        assertThat(report.exposed())
                .extracting(ExposureReport.Exposure::pa, ExposureReport.Exposure::length)
                .containsExactly(
                        Tuple.tuple(0x8_4000_0000L, 0x3000L),
                        Tuple.tuple(0x8_5000_1000L, 0x3000L),
                        Tuple.tuple(0x8_6000_0000L, 0x2000L),
                        Tuple.tuple(0x8_6000_3000L, 0x1000L));
        assertThat(report.exposedBytes()).isEqualTo(36 * 1024);
    }

    @Test
    void scenarioC2FlatUseOfTheFirstSegmentReadsANeighbourInsteadOfTheThirdPage() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = rig.scenarioC2Table();
        byte[] data = Rig.pattern(0x3000, 3);
        ScatterList pages = sgt.cpuSegments();
        for (int i = 0; i < 3; i++) {
            rig.memory.write(pages.segments().get(i).pa(), Arrays.copyOfRange(data, i * 0x1000, (i + 1) * 0x1000));
        }
        byte[] neighbour = Rig.pattern(0x1000, 99);
        rig.memory.write(0x8_5000_1000L, neighbour);

        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        byte[] flat = rig.piodma.dmaDevice().read(sgt.dmaSegments().get(0).address(), 0x3000);

        assertThat(Arrays.copyOfRange(flat, 0, 0x2000)).isEqualTo(Arrays.copyOfRange(data, 0, 0x2000));
        assertThat(Arrays.copyOfRange(flat, 0x2000, 0x3000)).isEqualTo(neighbour);
        assertThat(rig.piodma.dmaDevice().read(0xFFFF_A000L, 0x1000))
                .isEqualTo(Arrays.copyOfRange(data, 0x2000, 0x3000));
    }

    @Test
    void scenarioC2MappedForDcpFirstHasTheSameShapeInDcpSpace() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = rig.scenarioC2Table();

        rig.dcp.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        List<DmaSegment> dcpSegments = sgt.dmaSegments();
        long dcpExposed = ExposureReport.forMapping(rig.dcp, sgt).exposedBytes();
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(dcpSegments)
                .containsExactly(new DmaSegment(0xFFFF_3000L, 0x2000), new DmaSegment(0xFFFF_A000L, 0x1000));
        assertThat(sgt.dmaSegments()).isEqualTo(dcpSegments);
        assertThat(dcpExposed).isEqualTo(36 * 1024);
        assertThat(ExposureReport.forMapping(rig.piodma, sgt).exposedBytes()).isEqualTo(36 * 1024);
    }

    @Test
    void scenarioC2UnmapRemovesThreeGranulesAndTheRangeIsReusedFromTheCache() {
        Rig rig = new Rig(Profile.ASAHI_GRANULE_NO_SGTABLE_GUARD);
        SgTable sgt = rig.scenarioC2Table();
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        rig.piodma.unmapSgtable(sgt, DataDirection.BIDIRECTIONAL);

        assertThat(rig.dma.warnings()).isEmpty();
        for (long iova = 0xFFFF_0000L; iova < 0x1_0000_0000L; iova += 0x4000) {
            assertThat(rig.walk(rig.piodma, iova)).isEqualTo(-1);
        }
        assertThat(rig.piodma.iovaDomain().cachedRanges()).isEqualTo(1);
        rig.piodma.mapSgtable(sgt, DataDirection.BIDIRECTIONAL);
        assertThat(sgt.dmaSegments().get(0).address()).isEqualTo(0xFFFF_3000L);
        assertThat(rig.piodma.iovaDomain().cachedRanges()).isZero();
    }
}
