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
import org.dmashare.MappingConflictException;
import org.dmashare.iova.IovaAllocator.Range;
import org.dmashare.iova.IovaAllocator.Snapshot;
import org.dmashare.memory.FailureInjector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class IovaAllocatorTest {
    private static final long G = 0x1000;
    private static final long START = G;
    private static final long END = 1L << 32;

    private final IovaAllocator iovas = new IovaAllocator(START, END, G, FailureInjector.none());

    private void refusedWithoutChange(Class<? extends Throwable> type, Executable call) {
        Snapshot before = iovas.snapshot();
        long bytes = iovas.allocatedBytes();
        assertThatThrownBy(call::execute).isInstanceOf(type);
        assertThat(iovas.snapshot()).isEqualTo(before);
        assertThat(iovas.allocatedBytes()).isEqualTo(bytes);
    }

    @Test
    void aNullFailureInjectorIsRefusedWithNullPointerException() {
        assertThatThrownBy(() -> new IovaAllocator(START, END, G, null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("failures is null")
                .hasMessageContaining("FailureInjector.none()");
        assertThatThrownBy(() -> IovaAllocator.withRangeCaches(START, END, G, null))
                .isInstanceOf(NullPointerException.class)
                .hasMessageContaining("failures is null");
    }

    @Test
    void constructorRejectsBadGranuleOrBounds() {
        assertThatThrownBy(() -> new IovaAllocator(0, END, 0x1800, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(0, END, 0, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(G, G, G, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(2 * G, G, G, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(0x800, END, G, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(0, END + 0x800, G, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThatThrownBy(() -> new IovaAllocator(-G, END, G, FailureInjector.none()))
                .isInstanceOf(InvalidArgumentException.class);
        assertThat(iovas.start()).isEqualTo(START);
        assertThat(iovas.end()).isEqualTo(END);
        assertThat(iovas.granule()).isEqualTo(G);
    }

    @Test
    void allocateReturnsTheHighestFreeRange() {
        assertThat(iovas.allocate(G, G)).isEqualTo(END - G);
        assertThat(iovas.allocate(3 * G, G)).isEqualTo(END - 4 * G);
        assertThat(iovas.allocate(G, G)).isEqualTo(END - 5 * G);
        assertThat(iovas.liveRanges()).isEqualTo(3);
        assertThat(iovas.allocatedBytes()).isEqualTo(5 * G);
    }

    @Test
    void allocateBelowALimitReturnsTheHighestRangeEndingAtOrBelowIt() {
        long limit = 0x10_0000;
        assertThat(iovas.allocate(2 * G, G, limit)).isEqualTo(limit - 2 * G);
        assertThat(iovas.allocate(2 * G, G, limit)).isEqualTo(limit - 4 * G);
        assertThat(iovas.allocate(G, G, END + 0x1000_0000))
                .as("limit above the space")
                .isEqualTo(END - G);
        assertThatThrownBy(() -> iovas.allocate(G, G, START)).isInstanceOf(IovaSpaceExhaustedException.class);
        assertThat(iovas.allocate(G, G, START + G)).isEqualTo(START);
    }

    @Test
    void allocateAlignsTheRange() {
        iovas.allocate(G, G); // takes [END-4K, END)
        long at = iovas.allocate(0x10000, 0x10000);
        assertThat(at).isEqualTo(END - 0x20000);
        assertThat(at % 0x10000).isZero();
        // Size smaller than the alignment: still aligned, highest fit below the previous one.
        assertThat(iovas.allocate(G, 0x10_0000)).isEqualTo(END - 0x10_0000);
        assertThat(iovas.allocate(G, 0x10_0000)).isEqualTo(END - 0x20_0000);
    }

    @Test
    void topDownFirstFitTakesTheHighestGapThatFitsNotTheTightest() {
        // Gaps: a 2-granule hole high up, a 4-granule hole lower down.
        iovas.allocateAt(END - 2 * G, 2 * G);
        iovas.allocateAt(END - 6 * G, 2 * G); // hole [END-4G, END-2G) of 2 granules
        iovas.allocateAt(END - 20 * G, 10 * G); // hole [END-10G, END-6G) of 4 granules
        assertThat(iovas.allocate(2 * G, G)).isEqualTo(END - 4 * G);
        assertThat(iovas.allocate(G, G)).isEqualTo(END - 7 * G);
        assertThat(iovas.allocate(3 * G, G)).isEqualTo(END - 10 * G);
        assertThat(iovas.allocate(G, G)).isEqualTo(END - 21 * G);
    }

    @Test
    void allocateAtTakesExactlyTheRangeAndRefusesOverlaps() {
        iovas.allocateAt(0x10_0000, 4 * G);
        assertThat(iovas.snapshot().allocated()).containsExactly(new Range(0x10_0000, 4 * G));
        assertThat(iovas.isFree(0x10_0000, G)).isFalse();
        assertThat(iovas.isFree(0x10_0000 - G, G)).isTrue();
        assertThat(iovas.isFree(0x10_0000 + 4 * G, G)).isTrue();
        refusedWithoutChange(MappingConflictException.class, () -> iovas.allocateAt(0x10_0000 + 3 * G, 2 * G));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.allocateAt(0x10_0000 - G, 2 * G));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.allocateAt(0x10_0000 - G, 6 * G));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.allocateAt(0x10_0000 + G, G));
        iovas.allocateAt(0x10_0000 + 4 * G, G);
        iovas.allocateAt(0x10_0000 - G, G);
        assertThat(iovas.liveRanges()).isEqualTo(3);
    }

    @Test
    void allocateAtRejectsMisalignedOutsideEmptyOrOverflowingRanges() {
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(0x10_0800, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(0x10_0000, 0x800));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(0x10_0000, 0));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(0x10_0000, -G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(0, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(-G, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(END, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(END - G, 2 * G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(END - G, Long.MAX_VALUE & -G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocateAt(Long.MAX_VALUE & -G, 2 * G));
    }

    @Test
    void allocateRejectsBadSizesAndAlignments() {
        iovas.allocate(G, G);
        for (long bad : new long[] {0, -G, 0x800, G + 1, END, Long.MAX_VALUE, Long.MIN_VALUE}) {
            refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocate(bad, G));
            refusedWithoutChange(InvalidArgumentException.class, () -> iovas.findFree(bad, G, END));
        }
        for (long bad : new long[] {0, -G, 0x800, 3 * G, Long.MIN_VALUE}) {
            refusedWithoutChange(InvalidArgumentException.class, () -> iovas.allocate(G, bad));
            refusedWithoutChange(InvalidArgumentException.class, () -> iovas.findFree(G, bad, END));
        }
    }

    @Test
    void reservedRangesAreNeverHandedOutNorFreed() {
        iovas.reserve(END - 0x10_0000, 0x10_0000);
        assertThat(iovas.allocate(G, G)).isEqualTo(END - 0x10_0000 - G);
        assertThat(iovas.snapshot().reserved()).containsExactly(new Range(END - 0x10_0000, 0x10_0000));
        assertThat(iovas.liveRanges())
                .as("reservations are not live allocations")
                .isEqualTo(1);
        assertThat(iovas.allocatedBytes()).isEqualTo(G);
        assertThat(iovas.isFree(END - G, G)).isFalse();
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(END - 0x10_0000, 0x10_0000));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.reserve(END - 0x10_0000 - 2 * G, 2 * G));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.reserve(END - 2 * G, G));
        refusedWithoutChange(MappingConflictException.class, () -> iovas.allocateAt(END - 2 * G, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.reserve(END, G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.reserve(G + 1, G));
        iovas.reserve(START, G);
        refusedWithoutChange(IovaSpaceExhaustedException.class, () -> iovas.allocate(G, G, START + G));
    }

    @Test
    void findFreeAndIsFreeChangeNothing() {
        iovas.allocate(G, G);
        Snapshot before = iovas.snapshot();
        long f = iovas.findFree(2 * G, 2 * G, END);
        assertThat(f).isEqualTo(END - 4 * G);
        assertThat(iovas.findFree(G, G, 0x8000)).isEqualTo(0x7000);
        assertThat(iovas.findFree(G, G, START)).isEqualTo(-1);
        assertThat(iovas.isFree(END - 2 * G, G)).isTrue();
        assertThat(iovas.isFree(END - 2 * G, 2 * G)).isFalse();
        assertThat(iovas.isFree(0, G)).as("below the space").isFalse();
        assertThat(iovas.isFree(END, G)).as("above the space").isFalse();
        assertThat(iovas.isFree(START, 0)).isFalse();
        assertThat(iovas.snapshot()).isEqualTo(before);
        assertThat(iovas.allocate(2 * G, 2 * G)).isEqualTo(f);
    }

    @Test
    void freeCoalescesNeighboursSoTheWholeSpaceCanBeAllocatedAgain() {
        long a = iovas.allocate(G, G);
        long b = iovas.allocate(2 * G, G);
        long c = iovas.allocate(G, G);
        iovas.allocateAt(START, G);
        iovas.free(b, 2 * G);
        assertThat(iovas.allocate(3 * G, G)).as("middle hole is too small").isEqualTo(c - 3 * G);
        iovas.free(c - 3 * G, 3 * G);
        iovas.free(a, G);
        iovas.free(c, G);
        iovas.free(START, G);
        assertThat(iovas.liveRanges()).isZero();
        assertThat(iovas.allocatedBytes()).isZero();
        assertThat(iovas.snapshot()).isEqualTo(new Snapshot(List.of(), List.of()));
        assertThat(iovas.allocate(END - START, G)).isEqualTo(START);
    }

    @Test
    void freeRefusesAnythingButAnExactLiveAllocation() {
        long a = iovas.allocate(4 * G, G);
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(a, 2 * G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(a, 8 * G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(a + G, 3 * G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(a - 4 * G, 4 * G));
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(0, G));
        assertThatThrownBy(() -> iovas.free(a, 2 * G)).hasMessageContaining("the allocation there is 16 KiB");
        iovas.free(a, 4 * G);
        refusedWithoutChange(InvalidArgumentException.class, () -> iovas.free(a, 4 * G));
    }

    @Test
    void exhaustionNamesTheRequestAndWhatIsLeft() {
        IovaAllocator small = new IovaAllocator(0x10000, 0x20000, G, FailureInjector.none());
        small.allocate(0x8000, G);
        small.allocateAt(0x10000, 0x4000);
        small.allocateAt(0x15000, G);
        Snapshot before = small.snapshot();
        assertThatThrownBy(() -> small.allocate(0x4000, G))
                .isInstanceOf(IovaSpaceExhaustedException.class)
                .hasMessageContaining("16 KiB")
                .hasMessageContaining("3 ranges live")
                .hasMessageContaining("largest free gap 0x2000");
        assertThat(small.snapshot()).isEqualTo(before);
        small.allocate(0x2000, G);
        small.allocate(G, G);
        assertThatThrownBy(() -> small.allocate(G, G))
                .isInstanceOf(IovaSpaceExhaustedException.class)
                .hasMessageContaining("largest free gap 0x0");
        small.free(0x10000, 0x4000);
        assertThat(small.allocate(0x4000, 0x4000)).isEqualTo(0x10000);
    }

    /**
     * Thousands of random operations against a brute-force model: a TreeMap of taken ranges, and
     * the expected allocation found by scanning every aligned candidate from the top down. Run
     * with the smallest node capacity too, so the tree is many levels deep and every split,
     * borrow, merge and root change happens; the tree's invariants are checked after every step.
     *
     * @param capacity entries per tree node
     */
    @ParameterizedTest(name = "node capacity {0}")
    @ValueSource(ints = {4, 5, IovaAllocator.DEFAULT_NODE_CAPACITY})
    void randomOperationsMatchABruteForceModel(int capacity) {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("IovaAllocatorTest.randomOperationsMatchABruteForceModel seed=" + seed + " scale=" + scale);
        Random rnd = new Random(seed);
        long start = 3 * G;
        long end = start + 300 * G;
        IovaAllocator a = new IovaAllocator(start, end, G, FailureInjector.none(), capacity);
        TreeMap<Long, Long> allocated = new TreeMap<>();
        TreeMap<Long, Long> reserved = new TreeMap<>();
        int ops = 10_000 * scale;
        for (int op = 0; op < ops; op++) {
            String at = "seed " + seed + " op " + op;
            IovaAllocator x = a;
            int kind = rnd.nextInt(100);
            if (kind < 40) {
                long size = G * (1 + rnd.nextInt(rnd.nextBoolean() ? 4 : 24));
                long align = G << rnd.nextInt(6);
                long limit = rnd.nextInt(3) == 0 ? end : start + G * rnd.nextInt(310);
                if (rnd.nextInt(4) == 0) {
                    limit += rnd.nextInt((int) G);
                }
                long expected = modelFit(allocated, reserved, start, end, size, align, limit);
                assertThat(a.findFree(size, align, limit)).as(at).isEqualTo(expected);
                if (expected < 0) {
                    Snapshot before = a.snapshot();
                    long s = size;
                    long al = align;
                    long li = limit;
                    assertThatThrownBy(() -> x.allocate(s, al, li))
                            .as(at)
                            .isInstanceOf(IovaSpaceExhaustedException.class);
                    assertThat(a.snapshot()).as(at).isEqualTo(before);
                } else {
                    assertThat(a.allocate(size, align, limit)).as(at).isEqualTo(expected);
                    allocated.put(expected, size);
                }
            } else if (kind < 50) {
                long iova = start - 2 * G + G * rnd.nextInt(304);
                long size = G * (1 + rnd.nextInt(8));
                boolean inside = iova >= start && iova + size <= end;
                boolean free = inside && modelFree(allocated, reserved, iova, size);
                assertThat(a.isFree(iova, size)).as(at).isEqualTo(free);
                boolean reserve = rnd.nextInt(5) == 0;
                if (free) {
                    if (reserve) {
                        a.reserve(iova, size);
                        reserved.put(iova, size);
                    } else {
                        a.allocateAt(iova, size);
                        allocated.put(iova, size);
                    }
                } else {
                    Snapshot before = a.snapshot();
                    Class<? extends Throwable> type =
                            inside ? MappingConflictException.class : InvalidArgumentException.class;
                    assertThatThrownBy(() -> {
                                if (reserve) {
                                    x.reserve(iova, size);
                                } else {
                                    x.allocateAt(iova, size);
                                }
                            })
                            .as(at)
                            .isInstanceOf(type);
                    assertThat(a.snapshot()).as(at).isEqualTo(before);
                }
            } else if (!allocated.isEmpty()) {
                List<Long> keys = new ArrayList<>(allocated.keySet());
                long iova = keys.get(rnd.nextInt(keys.size()));
                long size = allocated.get(iova);
                if (rnd.nextInt(10) == 0) {
                    Snapshot before = a.snapshot();
                    assertThatThrownBy(() -> x.free(iova, size + G))
                            .as(at)
                            .isInstanceOf(InvalidArgumentException.class);
                    assertThat(a.snapshot()).as(at).isEqualTo(before);
                }
                a.free(iova, size);
                allocated.remove(iova);
            }
            if (rnd.nextInt(50) == 0 && reserved.size() > 3) {
                // Start over now and then so reservations do not fill the space for good.
                a = new IovaAllocator(start, end, G, FailureInjector.none(), capacity);
                allocated.clear();
                reserved.clear();
            }
            a.checkInvariants();
            assertThat(a.snapshot()).as(at).isEqualTo(new Snapshot(ranges(allocated), ranges(reserved)));
            assertThat(a.liveRanges()).as(at).isEqualTo(allocated.size());
            assertThat(a.allocatedBytes())
                    .as(at)
                    .isEqualTo(allocated.values().stream()
                            .mapToLong(Long::longValue)
                            .sum());
        }
    }

    @Test
    void concurrentAllocateAndFreeNeverHandOutOverlappingRanges() throws Exception {
        int threads = 4;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<List<Range>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    Random rnd = new Random(id);
                    List<Range> mine = new ArrayList<>();
                    start.await();
                    for (int i = 0; i < 20_000; i++) {
                        if (mine.size() < 50 && rnd.nextBoolean()) {
                            long size = G * (1 + rnd.nextInt(8));
                            mine.add(new Range(iovas.allocate(size, G << rnd.nextInt(3)), size));
                        } else if (!mine.isEmpty()) {
                            Range r = mine.remove(rnd.nextInt(mine.size()));
                            iovas.free(r.start(), r.size());
                        }
                    }
                    return mine;
                }));
            }
            start.countDown();
            List<Range> live = new ArrayList<>();
            for (Future<List<Range>> f : results) {
                live.addAll(f.get(60, TimeUnit.SECONDS));
            }
            live.sort(Comparator.comparingLong(Range::start));
            assertThat(iovas.snapshot().allocated()).containsExactlyElementsOf(live);
            for (int i = 1; i < live.size(); i++) {
                assertThat(live.get(i).start())
                        .isGreaterThanOrEqualTo(live.get(i - 1).end());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static List<Range> ranges(TreeMap<Long, Long> m) {
        List<Range> out = new ArrayList<>();
        m.forEach((s, n) -> out.add(new Range(s, n)));
        return out;
    }

    static boolean modelFree(TreeMap<Long, Long> allocated, TreeMap<Long, Long> reserved, long iova, long size) {
        for (TreeMap<Long, Long> m : List.of(allocated, reserved)) {
            for (Map.Entry<Long, Long> e : m.entrySet()) {
                if (e.getKey() < iova + size && iova < e.getKey() + e.getValue()) {
                    return false;
                }
            }
        }
        return true;
    }

    static long modelFit(
            TreeMap<Long, Long> allocated,
            TreeMap<Long, Long> reserved,
            long start,
            long end,
            long size,
            long align,
            long limit) {
        long top = Math.min(limit, end);
        for (long at = Math.floorDiv(top - size, align) * align; at >= start; at -= align) {
            if (modelFree(allocated, reserved, at, size)) {
                return at;
            }
        }
        return -1;
    }

    /**
     * A million live ranges separated by a million one-granule holes: allocation and free stay
     * logarithmic, so this runs in the normal suite. The property dmashare.test.scale multiplies
     * the count.
     */
    @Test
    void aMillionLiveRangesStayFast() {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("IovaAllocatorTest.aMillionLiveRangesStayFast seed=" + seed + " scale=" + scale);
        Random rnd = new Random(seed);
        int n = 1_000_000 * scale;
        long start = G;
        long end = start + 2L * n * G + (1L << 30);
        IovaAllocator a = new IovaAllocator(start, end, G, FailureInjector.none());
        for (int i = 0; i < n; i++) {
            a.allocateAt(start + 2L * i * G, G);
        }
        assertThat(a.liveRanges()).isEqualTo(n);
        // Every hole below the top gap is one granule: a two-granule request must skip them all.
        long top = start + (2L * n - 1) * G;
        assertThat(a.allocate(2 * G, G)).isEqualTo(end - 2 * G);
        assertThatThrownBy(() -> a.allocate(2 * G, G, top)).isInstanceOf(IovaSpaceExhaustedException.class);
        int ops = 20_000 * scale;
        // Limits anywhere: exactly the one-granule hole just below each limit.
        for (int i = 0; i < ops; i++) {
            int k = rnd.nextInt(n - 1);
            long hole = start + (2L * k + 1) * G;
            assertThat(a.allocate(G, G, hole + G))
                    .as("seed %d limit above hole %d", seed, k)
                    .isEqualTo(hole);
            a.free(hole, G);
        }
        // Free random live ranges and take them back by a limit just above them.
        for (int i = 0; i < ops; i++) {
            long iova = start + 2L * rnd.nextInt(n) * G;
            a.free(iova, G);
            assertThat(a.allocate(G, G, iova + G))
                    .as("seed %d refill %x", seed, iova)
                    .isEqualTo(iova);
        }
        assertThat(a.liveRanges()).isEqualTo(n + 1);
        assertThat(a.allocatedBytes()).isEqualTo((n + 2L) * G);
    }
}
