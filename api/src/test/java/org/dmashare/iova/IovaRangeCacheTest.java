package org.dmashare.iova;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.iova.IovaAllocator.Range;
import org.dmashare.iova.IovaAllocator.Snapshot;
import org.dmashare.memory.FailureInjector;
import org.junit.jupiter.api.Test;

/** The per-thread range caches of {@link IovaAllocator#withRangeCaches}. */
class IovaRangeCacheTest {
    private static final long G = 0x1000;
    private static final long START = G;
    private static final long END = 1L << 32;

    private final IovaAllocator iovas = IovaAllocator.withRangeCaches(START, END, G, FailureInjector.none());

    @Test
    void aFreedRangeWaitsInTheCacheYetCountsAsFree() {
        long a = iovas.allocate(2 * G, G);
        iovas.free(a, 2 * G);
        assertThat(iovas.cachedRanges()).isEqualTo(1);
        assertThat(iovas.liveRanges()).isZero();
        assertThat(iovas.allocatedBytes()).isZero();
        assertThat(iovas.snapshot()).isEqualTo(new Snapshot(List.of(), List.of()));
        iovas.checkInvariants();
        assertThat(iovas.isFree(a, 2 * G)).isTrue();
        assertThat(iovas.cachedRanges()).as("a query drains the caches").isZero();
        iovas.checkInvariants();
    }

    @Test
    void neighbouringRangesLandOnDifferentLiveStripes() {
        // One thread's cache hands out ranges a granule apart in turn; two threads working next to
        // each other must not meet on one live-stripe lock, so neighbours never share a stripe and
        // a run of ranges spreads evenly (at most twice the mean on any stripe).
        for (long granule : new long[] {0x1000, 0x4000}) {
            IovaAllocator a = IovaAllocator.withRangeCaches(granule, 1L << 48, granule, FailureInjector.none());
            int stripes = a.liveStripes();
            assertThat(stripes).as("many more live stripes than threads").isGreaterThanOrEqualTo(16);
            int run = 8 * stripes;
            int[] load = new int[stripes];
            int previous = -1;
            for (int i = 1; i <= run; i++) {
                int s = a.liveStripeIndex((1L << 48) - i * granule);
                assertThat(s).as("stripe of granule %d below the top", i).isNotEqualTo(previous);
                load[s]++;
                previous = s;
            }
            for (int s = 0; s < stripes; s++) {
                assertThat(load[s]).as("ranges on stripe %d of %d", s, stripes).isBetween(1, 2 * run / stripes);
            }
        }
        assertThat(new IovaAllocator(START, END, G, FailureInjector.none()).liveStripes())
                .as("without caches one stripe under the allocator lock")
                .isEqualTo(1);
    }

    @Test
    void theMostRecentlyFreedRangeOfTheSizeIsReusedFirst() {
        long a = iovas.allocate(G, G);
        long b = iovas.allocate(G, G);
        long c = iovas.allocate(G, G);
        assertThat(List.of(a, b, c)).containsExactly(END - G, END - 2 * G, END - 3 * G);
        iovas.free(a, G);
        iovas.free(c, G);
        // The tree alone would hand out a, the highest free range; the cache hands out c.
        assertThat(iovas.allocate(G, G)).isEqualTo(c);
        assertThat(iovas.allocate(G, G)).isEqualTo(a);
        assertThat(iovas.liveRanges()).isEqualTo(3);
        iovas.checkInvariants();
    }

    @Test
    void aCachedRangeServesOnlyRequestsItsAlignmentAndLimitSatisfy() {
        long a = iovas.allocate(G, G); // END - G: odd granule, aligned to G only
        long b = iovas.allocate(G, G); // END - 2G
        iovas.free(b, G);
        iovas.free(a, G);
        // a was freed last but is not 2-granule aligned: b serves the request.
        assertThat(iovas.allocate(G, 2 * G)).isEqualTo(b);
        // a ends at END: a request limited below it cannot have it, and gets the tree's highest.
        assertThat(iovas.allocate(G, G, END - 2 * G)).isEqualTo(END - 3 * G);
        assertThat(iovas.cachedRanges()).isEqualTo(1);
        assertThat(iovas.allocate(G, G)).isEqualTo(a);
        // Sizes other than 1, 2, 4, ... 32 granules are never cached.
        long odd = iovas.allocate(3 * G, G);
        iovas.free(odd, 3 * G);
        long big = iovas.allocate(64 * G, G);
        iovas.free(big, 64 * G);
        assertThat(iovas.cachedRanges()).isZero();
        iovas.checkInvariants();
    }

    @Test
    void exhaustionDrainsEveryCacheIntoTheTreeBeforeFailing() throws Exception {
        IovaAllocator small = IovaAllocator.withRangeCaches(0x10000, 0x18000, G, FailureInjector.none());
        long[] got = new long[8];
        for (int i = 0; i < 8; i++) {
            got[i] = small.allocate(G, G);
        }
        // Free half on another thread, so they wait in another stripe's cache.
        Thread other = new Thread(() -> {
            for (int i = 0; i < 4; i++) {
                small.free(got[i], G);
            }
        });
        other.start();
        other.join();
        for (int i = 4; i < 8; i++) {
            small.free(got[i], G);
        }
        assertThat(small.cachedRanges()).isEqualTo(8);
        assertThat(small.allocate(0x8000, 0x8000)).isEqualTo(0x10000);
        assertThat(small.cachedRanges()).isZero();
        small.checkInvariants();
        Snapshot before = small.snapshot();
        assertThatThrownBy(() -> small.allocate(G, G))
                .isInstanceOf(IovaSpaceExhaustedException.class)
                .hasMessageContaining("1 ranges live");
        assertThat(small.snapshot()).isEqualTo(before);
    }

    @Test
    void theCachesAreBoundedAndSpillIntoTheTree() {
        int n = 20_000;
        long[] got = new long[n];
        for (int i = 0; i < n; i++) {
            got[i] = iovas.allocate(G, G);
        }
        for (int i = 0; i < n; i++) {
            iovas.free(got[i], G);
        }
        int bound = (2 * 64 + RangeCaches.DEPOT) * RangeCaches.CLASSES * RangeCaches.MAGAZINE;
        assertThat(iovas.cachedRanges()).isPositive().isLessThanOrEqualTo(bound).isLessThan(n);
        iovas.checkInvariants();
        iovas.drainCaches();
        assertThat(iovas.cachedRanges()).isZero();
        assertThat(iovas.allocate(END - START, G))
                .as("everything came back and merged")
                .isEqualTo(START);
    }

    @Test
    void freeOfAnythingButALiveAllocationIsRefusedEvenWhenTheRangeIsCached() {
        long a = iovas.allocate(G, G);
        iovas.free(a, G);
        assertThatThrownBy(() -> iovas.free(a, G))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("no allocation starts there");
        assertThat(iovas.cachedRanges()).isEqualTo(1);
        iovas.checkInvariants();
    }

    /**
     * Random allocations, frees, fixed allocations and reservations against a brute-force model
     * of what is taken. Allocation placement is free to differ from top-down first fit (a cache
     * hit returns a recently freed range), so each result is checked for what any correct
     * allocator must give: a range free in the model, aligned, below the limit; and exhaustion
     * exactly when the model has no such range.
     */
    @Test
    void randomOperationsKeepTheAccountingExactAndNeverHandOutATakenRange() {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("IovaRangeCacheTest.randomOperationsKeepTheAccountingExactAndNeverHandOutATakenRange seed="
                + seed + " scale=" + scale);
        Random rnd = new Random(seed);
        long start = 3 * G;
        long end = start + 300 * G;
        IovaAllocator a = new IovaAllocator(start, end, G, FailureInjector.none(), 4, true);
        TreeMap<Long, Long> allocated = new TreeMap<>();
        TreeMap<Long, Long> reserved = new TreeMap<>();
        int ops = 10_000 * scale;
        for (int op = 0; op < ops; op++) {
            String at = "seed " + seed + " op " + op;
            IovaAllocator x = a;
            int kind = rnd.nextInt(100);
            if (kind < 45) {
                long size = rnd.nextBoolean() ? G << rnd.nextInt(6) : G * (1 + rnd.nextInt(24));
                long align = G << rnd.nextInt(4);
                long limit = rnd.nextInt(3) == 0 ? end : start + G * rnd.nextInt(310);
                boolean fits = IovaAllocatorTest.modelFit(allocated, reserved, start, end, size, align, limit) >= 0;
                if (!fits) {
                    Snapshot before = a.snapshot();
                    assertThatThrownBy(() -> x.allocate(size, align, limit))
                            .as(at)
                            .isInstanceOf(IovaSpaceExhaustedException.class);
                    assertThat(a.snapshot()).as(at).isEqualTo(before);
                } else {
                    long got = a.allocate(size, align, limit);
                    assertThat(got % align).as(at).isZero();
                    assertThat(got).as(at).isGreaterThanOrEqualTo(start);
                    assertThat(got + size).as(at).isLessThanOrEqualTo(Math.min(limit, end));
                    assertThat(IovaAllocatorTest.modelFree(allocated, reserved, got, size))
                            .as(at)
                            .isTrue();
                    allocated.put(got, size);
                }
            } else if (kind < 52) {
                long iova = start + G * rnd.nextInt(300);
                long size = G * (1 + rnd.nextInt(4));
                boolean free = iova + size <= end && IovaAllocatorTest.modelFree(allocated, reserved, iova, size);
                assertThat(a.isFree(iova, size)).as(at).isEqualTo(free);
                if (free) {
                    if (rnd.nextInt(5) == 0) {
                        a.reserve(iova, size);
                        reserved.put(iova, size);
                    } else {
                        a.allocateAt(iova, size);
                        allocated.put(iova, size);
                    }
                }
            } else if (!allocated.isEmpty()) {
                List<Long> keys = new ArrayList<>(allocated.keySet());
                long iova = keys.get(rnd.nextInt(keys.size()));
                a.free(iova, allocated.remove(iova));
            }
            if (rnd.nextInt(50) == 0 && reserved.size() > 3) {
                a = new IovaAllocator(start, end, G, FailureInjector.none(), 4, true);
                allocated.clear();
                reserved.clear();
            }
            a.checkInvariants();
            assertThat(a.liveRanges()).as(at).isEqualTo(allocated.size());
            assertThat(a.allocatedBytes())
                    .as(at)
                    .isEqualTo(allocated.values().stream()
                            .mapToLong(Long::longValue)
                            .sum());
            if (rnd.nextInt(20) == 0) {
                assertThat(a.snapshot()).as(at).isEqualTo(new Snapshot(ranges(allocated), ranges(reserved)));
            }
        }
    }

    @Test
    void concurrentAllocateAndFreeNeverHandOutOverlappingRangesAndLeakNothing() throws Exception {
        int threads = 4;
        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<List<Range>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    Random rnd = new Random(id);
                    List<Range> mine = new ArrayList<>();
                    go.await();
                    for (int i = 0; i < 20_000; i++) {
                        if (mine.size() < 200 && rnd.nextBoolean()) {
                            long size = rnd.nextInt(4) == 0 ? G * (1 + rnd.nextInt(8)) : G << rnd.nextInt(3);
                            mine.add(new Range(iovas.allocate(size, G << rnd.nextInt(3)), size));
                        } else if (!mine.isEmpty()) {
                            Range r = mine.remove(rnd.nextInt(mine.size()));
                            iovas.free(r.start(), r.size());
                        }
                    }
                    return mine;
                }));
            }
            go.countDown();
            List<Range> live = new ArrayList<>();
            for (Future<List<Range>> f : results) {
                live.addAll(f.get(60, TimeUnit.SECONDS));
            }
            live.sort(Comparator.comparingLong(Range::start));
            iovas.checkInvariants();
            assertThat(iovas.liveRanges()).isEqualTo(live.size());
            assertThat(iovas.snapshot().allocated()).containsExactlyElementsOf(live);
            for (Range r : live) {
                iovas.free(r.start(), r.size());
            }
            iovas.checkInvariants();
            assertThat(iovas.allocatedBytes()).isZero();
            assertThat(iovas.allocate(END - START, G)).as("nothing leaked").isEqualTo(START);
        } finally {
            pool.shutdownNow();
        }
    }

    private static List<Range> ranges(Map<Long, Long> m) {
        List<Range> out = new ArrayList<>();
        m.forEach((s, n) -> out.add(new Range(s, n)));
        return out;
    }
}
