package org.dmashare.dmaapi;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.memory.FailureInjector;
import org.junit.jupiter.api.Test;

/** iova.c's placement rules as iommu-dma.md section 1.2 states them, on a 32-bit, 16 KiB-granule space. */
class LinuxIovaDomainTest {
    private static final long G = 0x4000;
    private static final long LIMIT_32 = 0xFFFF_FFFFL >>> 14;

    private static LinuxIovaDomain fresh32() {
        return new LinuxIovaDomain(new IovaAllocator(G, 1L << 32, G, FailureInjector.none()));
    }

    private static long iova(long pfn) {
        return pfn << 14;
    }

    @Test
    void firstAllocationOfNGranulesLandsAtTheTopOfTheSpaceSizeAligned() {
        assertThat(iova(fresh32().allocIovaFast(1, LIMIT_32, true))).isEqualTo(0xFFFF_C000L);
        assertThat(iova(fresh32().allocIovaFast(2, LIMIT_32, true))).isEqualTo(0xFFFF_8000L);
        assertThat(iova(fresh32().allocIovaFast(4, LIMIT_32, true))).isEqualTo(0xFFFF_0000L);
        assertThat(iova(fresh32().allocIovaFast(8, LIMIT_32, true))).isEqualTo(0xFFFE_0000L);
    }

    @Test
    void requestsBelowThirtyTwoGranulesAreRoundedToAPowerOfTwo() {
        LinuxIovaDomain d = fresh32();

        long three = d.allocIovaFast(3, LIMIT_32, true);
        long big = d.allocIovaFast(33, LIMIT_32, true);

        assertThat(iova(three)).isEqualTo(0xFFFF_0000L);
        assertThat(d.liveRanges()).containsEntry(three, 4L);
        // 33 granules are not rounded, but the start is still aligned to 64 granules
        assertThat(d.liveRanges()).containsEntry(big, 33L);
        assertThat(big % 64).isZero();
        assertThat(iova(big)).isEqualTo(0xFFF0_0000L);
    }

    @Test
    void limitKeepsTheRangeBelowTheDeviceMask() {
        LinuxIovaDomain d = fresh32();

        long pfn = d.allocIovaFast(2, 0x3FFF_FFFFL >>> 14, true);

        assertThat(iova(pfn)).isEqualTo(0x3FFF_8000L);
    }

    @Test
    void freedSmallRangesAreReusedLastInFirstOutFromTheRangeCache() {
        LinuxIovaDomain d = fresh32();
        long a = d.allocIovaFast(1, LIMIT_32, true);
        long b = d.allocIovaFast(1, LIMIT_32, true);

        d.freeIovaFast(a, 1);
        d.freeIovaFast(b, 1);

        assertThat(d.cachedRanges()).isEqualTo(2);
        assertThat(d.liveRanges()).hasSize(2);
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(b);
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(a);
        assertThat(d.cachedRanges()).isZero();
    }

    @Test
    void cachedRangeAboveTheLimitIsNotHandedOut() {
        LinuxIovaDomain d = fresh32();
        long top = d.allocIovaFast(1, LIMIT_32, true);
        d.freeIovaFast(top, 1);

        long low = d.allocIovaFast(1, 0x0FFF_FFFFL >>> 14, true);

        assertThat(iova(low)).isEqualTo(0x0FFF_C000L);
        assertThat(d.cachedRanges()).isEqualTo(1);
    }

    @Test
    void largeRangesBypassTheCacheAndLeaveTheTree() {
        LinuxIovaDomain d = fresh32();
        long pfn = d.allocIovaFast(64, LIMIT_32, true);

        d.freeIovaFast(pfn, 64);

        assertThat(d.liveRanges()).isEmpty();
        assertThat(d.cachedRanges()).isZero();
    }

    @Test
    void topDownSearchStartsBelowTheCachedNodeAndRetriesAboveItOnlyWhenNothingFitsBelow() {
        // frames 1..16: a 16-granule space
        LinuxIovaDomain d = new LinuxIovaDomain(new IovaAllocator(G, 17 * G, G, FailureInjector.none()));
        assertThat(d.allocIovaFast(8, LIMIT_32, true)).isEqualTo(8); // [8,16); frame 16 stays free above
        // a one-granule request goes below the cached node, not into the higher hole at frame 16
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(7);
        assertThat(d.allocIovaFast(4, LIMIT_32, true)).isEqualTo(0).as("4 aligned granules no longer fit");
        assertThat(d.allocIovaFast(2, LIMIT_32, true)).isEqualTo(4);
        assertThat(d.allocIovaFast(2, LIMIT_32, true)).isEqualTo(2);
        // still below the cached node: frame 1, although frames 6 and 16 are free and higher
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(1);
        // nothing below the cached node (frame 1): the retry above it finds the highest hole, frame 16
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(16);
        assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(6);
        assertThat(d.liveRanges()).isEqualTo(Map.of(8L, 8L, 7L, 1L, 4L, 2L, 2L, 2L, 1L, 1L, 16L, 1L, 6L, 1L));
    }

    @Test
    void treeFailureFlushesTheRangeCachesAndRetriesOnce() {
        LinuxIovaDomain d = new LinuxIovaDomain(new IovaAllocator(G, 6 * G, G, FailureInjector.none())); // frames 1..5
        for (long expected = 5; expected >= 1; expected--) {
            assertThat(d.allocIovaFast(1, LIMIT_32, true)).isEqualTo(expected);
        }
        d.freeIovaFast(5, 1);
        d.freeIovaFast(4, 1);
        assertThat(d.cachedRanges()).isEqualTo(2);

        assertThat(d.allocIovaFast(2, LIMIT_32, false))
                .as("without flushing nothing fits")
                .isZero();
        long two = d.allocIovaFast(2, LIMIT_32, true);

        assertThat(two).isEqualTo(4);
        assertThat(d.cachedRanges()).isZero();
        assertThat(d.liveRanges()).isEqualTo(Map.of(1L, 1L, 2L, 1L, 3L, 1L, 4L, 2L));
    }
}
