package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.dmashare.InvalidArgumentException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.memory.PageAllocator.Block;
import org.dmashare.memory.PageAllocator.Usage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class PageAllocatorTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long K4 = 4096;
    private static final long MIB = 1L << 20;

    private static PageAllocator allocator(long size) {
        return PhysicalMemory.create(BASE, size, 4096).allocator();
    }

    /** Everything observable about an allocator, for before/after equality. */
    private record State(Usage usage, List<Block> blocks, long largest) {
        static State of(PageAllocator a) {
            return new State(a.usage(), a.allocatedBlocks(), a.largestFreeBlock());
        }
    }

    private static void refusedWithoutChange(PageAllocator a, Class<? extends Throwable> type, Executable call) {
        State before = State.of(a);
        assertThatThrownBy(call::execute).isInstanceOf(type);
        assertThat(State.of(a)).isEqualTo(before);
    }

    @Test
    void freshAllocatorHasOneMaximalFreeBlock() {
        PageAllocator a = allocator(MIB);
        assertThat(a.pageSize()).isEqualTo(4096);
        assertThat(a.usage()).isEqualTo(new Usage(MIB, 0, 0, 0));
        assertThat(a.largestFreeBlock()).isEqualTo(MIB);
        assertThat(a.allocatedBlocks()).isEmpty();
    }

    @Test
    void blocksAreNaturallyAligned() {
        PageAllocator a = allocator(4 * MIB);
        for (long size : new long[] {K4, 8 * K4, 2 * K4, 64 * K4, K4, 256 * K4, 4 * K4}) {
            long pa = a.allocate(size, PageUse.BUFFER);
            assertThat(pa % size).as("block of %x at %x", size, pa).isZero();
            assertThat(a.isAllocated(pa, size)).isTrue();
        }
    }

    @Test
    void allocatesLowestAddressFirst() {
        PageAllocator a = allocator(MIB);
        for (int i = 0; i < 8; i++) {
            assertThat(a.allocate(K4, PageUse.BUFFER)).isEqualTo(BASE + i * K4);
        }
        assertThat(a.allocate(32 * K4, PageUse.BUFFER)).isEqualTo(BASE + 32 * K4);
        a.free(BASE + 3 * K4, K4);
        a.free(BASE + 5 * K4, K4);
        assertThat(a.allocate(K4, PageUse.BUFFER)).isEqualTo(BASE + 3 * K4);
        assertThat(a.allocate(K4, PageUse.BUFFER)).isEqualTo(BASE + 5 * K4);
    }

    @Test
    void allocationSplitsALargerBlockAndLeavesItsBuddies() {
        PageAllocator a = allocator(MIB);
        long pa = a.allocate(K4, PageUse.BUFFER);
        assertThat(pa).isEqualTo(BASE);
        assertThat(a.largestFreeBlock()).isEqualTo(MIB / 2);
        assertThat(a.usage()).isEqualTo(new Usage(MIB - K4, K4, 0, 1));
        // The split left exactly one free buddy of each order 4K .. 512K.
        List<Long> got = new ArrayList<>();
        for (long size = K4; size <= MIB / 2; size <<= 1) {
            got.add(a.allocate(size, PageUse.BUFFER));
        }
        List<Long> expected = new ArrayList<>();
        for (long size = K4; size <= MIB / 2; size <<= 1) {
            expected.add(BASE + size);
        }
        assertThat(got).isEqualTo(expected);
        assertThat(a.usage().freeBytes()).isZero();
        assertThat(a.largestFreeBlock()).isZero();
    }

    @Test
    void freeingEverythingCoalescesBackIntoOneMaximalBlock() {
        PageAllocator a = allocator(MIB);
        Random rnd = new Random(1);
        List<Block> blocks = new ArrayList<>();
        while (a.usage().freeBytes() > 0) {
            long size = K4 << rnd.nextInt(4);
            if (a.largestFreeBlock() < size) {
                size = a.largestFreeBlock();
            }
            blocks.add(a.allocateLargest(size, size, rnd.nextBoolean() ? PageUse.BUFFER : PageUse.PAGE_TABLE));
        }
        assertThat(a.allocatedBlocks()).hasSameSizeAs(blocks);
        Collections.shuffle(blocks, rnd);
        for (Block b : blocks) {
            a.free(b.pa(), b.size());
        }
        assertThat(a.largestFreeBlock()).isEqualTo(MIB);
        assertThat(a.usage()).isEqualTo(new Usage(MIB, 0, 0, 0));
        assertThat(a.allocate(MIB, PageUse.BUFFER)).isEqualTo(BASE);
    }

    @Test
    void memoryThatIsNotAPowerOfTwoIsCarvedIntoAlignedBlocks() {
        // [0x1000, 0x8000): 4K at 0x1000, 8K at 0x2000, 16K at 0x4000.
        PageAllocator a = PhysicalMemory.create(0x1000, 0x7000, 4096).allocator();
        assertThat(a.largestFreeBlock()).isEqualTo(0x4000);
        assertThat(a.allocate(0x4000, PageUse.BUFFER)).isEqualTo(0x4000);
        assertThat(a.allocate(0x2000, PageUse.BUFFER)).isEqualTo(0x2000);
        assertThat(a.allocate(0x1000, PageUse.BUFFER)).isEqualTo(0x1000);
        refusedWithoutChange(a, PhysicalMemoryExhaustedException.class, () -> a.allocate(0x1000, PageUse.BUFFER));
        a.free(0x1000, 0x1000);
        a.free(0x2000, 0x2000);
        a.free(0x4000, 0x4000);
        assertThat(a.largestFreeBlock()).as("0x1000 has no buddy inside memory").isEqualTo(0x4000);
        assertThat(a.usage()).isEqualTo(new Usage(0x7000, 0, 0, 0));
    }

    @Test
    void accountingIsExactPerUse() {
        PageAllocator a = allocator(MIB);
        long buf = a.allocate(8 * K4, PageUse.BUFFER);
        long t1 = a.allocate(K4, PageUse.PAGE_TABLE);
        long t2 = a.allocate(K4, PageUse.PAGE_TABLE);
        assertThat(a.usage()).isEqualTo(new Usage(MIB - 10 * K4, 8 * K4, 2 * K4, 3));
        assertThat(a.usage().usedBytes()).isEqualTo(10 * K4);
        assertThat(a.allocatedBlocks())
                .containsExactly(
                        new Block(buf, 8 * K4, PageUse.BUFFER),
                        new Block(t1, K4, PageUse.PAGE_TABLE),
                        new Block(t2, K4, PageUse.PAGE_TABLE));
        a.free(t1, K4);
        assertThat(a.usage()).isEqualTo(new Usage(MIB - 9 * K4, 8 * K4, K4, 2));
        a.free(buf, 8 * K4);
        assertThat(a.usage()).isEqualTo(new Usage(MIB - K4, 0, K4, 1));
        assertThat(a.allocatedBlocks()).containsExactly(new Block(t2, K4, PageUse.PAGE_TABLE));
    }

    @Test
    void isAllocatedIsTrueOnlyInsideOneLiveBlock() {
        PageAllocator a = allocator(MIB);
        long p = a.allocate(4 * K4, PageUse.BUFFER);
        long q = a.allocate(4 * K4, PageUse.BUFFER);
        assertThat(q).isEqualTo(p + 4 * K4);
        assertThat(a.isAllocated(p, 4 * K4)).isTrue();
        assertThat(a.isAllocated(p + K4, K4)).isTrue();
        assertThat(a.isAllocated(p + 3 * K4, 2 * K4)).as("spans two blocks").isFalse();
        assertThat(a.isAllocated(q + 4 * K4, K4)).isFalse();
    }

    @Test
    void allocateLargestPrefersTheMaximumSize() {
        PageAllocator a = allocator(MIB);
        Block b = a.allocateLargest(16 * K4, K4, PageUse.BUFFER);
        assertThat(b).isEqualTo(new Block(BASE, 16 * K4, PageUse.BUFFER));
    }

    @Test
    void allocateLargestTakesTheLargestFreeBlockUnderFragmentation() {
        PageAllocator a = allocator(16 * K4);
        for (int i = 0; i < 16; i++) {
            a.allocate(K4, PageUse.BUFFER);
        }
        for (int i = 0; i < 16; i += 2) {
            a.free(BASE + i * K4, K4);
        }
        a.free(BASE + 13 * K4, K4); // 12 and 13 coalesce into an 8K block; 12..15 is not free
        assertThat(a.largestFreeBlock()).isEqualTo(2 * K4);
        Block b = a.allocateLargest(16 * K4, K4, PageUse.BUFFER);
        assertThat(b).isEqualTo(new Block(BASE + 12 * K4, 2 * K4, PageUse.BUFFER));
        Block c = a.allocateLargest(16 * K4, K4, PageUse.PAGE_TABLE);
        assertThat(c).isEqualTo(new Block(BASE, K4, PageUse.PAGE_TABLE));
        refusedWithoutChange(
                a, PhysicalMemoryExhaustedException.class, () -> a.allocateLargest(16 * K4, 2 * K4, PageUse.BUFFER));
        assertThatThrownBy(() -> a.allocateLargest(16 * K4, 2 * K4, PageUse.BUFFER))
                .hasMessageContaining("largest free block 4 KiB");
    }

    @Test
    void allocateLargestRejectsMinimumAboveMaximum() {
        PageAllocator a = allocator(MIB);
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.allocateLargest(K4, 2 * K4, PageUse.BUFFER));
    }

    @Test
    void rejectsSizesThatAreNotPowersOfTwoOfAtLeastAPage() {
        PageAllocator a = allocator(MIB);
        a.allocate(K4, PageUse.BUFFER);
        for (long bad : new long[] {0, -K4, 3 * K4, 2048, K4 + 1, Long.MIN_VALUE}) {
            refusedWithoutChange(a, InvalidArgumentException.class, () -> a.allocate(bad, PageUse.BUFFER));
            refusedWithoutChange(a, InvalidArgumentException.class, () -> a.allocateLargest(MIB, bad, PageUse.BUFFER));
        }
    }

    @Test
    void exhaustionIsReportedAndChangesNothing() {
        PageAllocator a = allocator(MIB);
        a.allocate(K4, PageUse.BUFFER);
        refusedWithoutChange(a, PhysicalMemoryExhaustedException.class, () -> a.allocate(MIB, PageUse.BUFFER));
        refusedWithoutChange(a, PhysicalMemoryExhaustedException.class, () -> a.allocate(2 * MIB, PageUse.PAGE_TABLE));
    }

    @Test
    void rejectsDoubleFreeWithoutChange() {
        PageAllocator a = allocator(MIB);
        long p = a.allocate(2 * K4, PageUse.BUFFER);
        a.allocate(K4, PageUse.BUFFER);
        a.free(p, 2 * K4);
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(p, 2 * K4));
        assertThatThrownBy(() -> a.free(p, 2 * K4)).hasMessageContaining("no live block starts there");
    }

    @Test
    void rejectsForeignAddressWithoutChange() {
        PageAllocator a = allocator(MIB);
        a.allocate(K4, PageUse.BUFFER);
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(BASE + MIB, K4));
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(0, K4));
        refusedWithoutChange(
                a, InvalidArgumentException.class, () -> a.free(BASE + 64 * K4, K4)); // free, never allocated
    }

    @Test
    void rejectsWrongSizeWithoutChange() {
        PageAllocator a = allocator(MIB);
        long p = a.allocate(4 * K4, PageUse.BUFFER);
        for (long bad : new long[] {K4, 2 * K4, 8 * K4, 3 * K4, 0, -4 * K4}) {
            refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(p, bad));
        }
        assertThatThrownBy(() -> a.free(p, K4)).hasMessageContaining("the live block there is 16 KiB");
    }

    @Test
    void rejectsMisalignedAddressWithoutChange() {
        PageAllocator a = allocator(MIB);
        long p = a.allocate(4 * K4, PageUse.BUFFER);
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(p + K4, K4));
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(p + K4, 4 * K4));
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.free(p + 1, 4 * K4));
    }

    @Test
    void sixteenKibPagesAreTheSmallestBlock() {
        PageAllocator a = PhysicalMemory.create(BASE, MIB, 16384).allocator();
        assertThat(a.pageSize()).isEqualTo(16384);
        refusedWithoutChange(a, InvalidArgumentException.class, () -> a.allocate(K4, PageUse.BUFFER));
        assertThat(a.allocate(16384, PageUse.BUFFER)).isEqualTo(BASE);
        assertThat(a.allocate(16384, PageUse.BUFFER)).isEqualTo(BASE + 16384);
    }

    /**
     * Random allocate/free against a page bitmap: blocks never overlap, are naturally aligned,
     * accounting is exact, and an allocation fails exactly when no naturally aligned free run of
     * that size exists (the buddy system always coalesces fully free buddies).
     */
    @Test
    void randomAllocateAndFreeMatchAPageBitmap() {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("PageAllocatorTest.randomAllocateAndFreeMatchAPageBitmap seed=" + seed + " scale=" + scale);
        Random rnd = new Random(seed);
        int pages = 256;
        PageAllocator a = allocator(pages * K4);
        boolean[] used = new boolean[pages];
        TreeMap<Long, Block> live = new TreeMap<>();
        int ops = 20_000 * scale;
        for (int op = 0; op < ops; op++) {
            if (live.isEmpty() || rnd.nextInt(100) < 55) {
                int order = rnd.nextInt(6);
                long size = K4 << order;
                PageUse use = rnd.nextBoolean() ? PageUse.BUFFER : PageUse.PAGE_TABLE;
                boolean fits = alignedFreeRun(used, 1 << order);
                if (fits) {
                    long pa = a.allocate(size, use);
                    assertThat(pa % size)
                            .as("seed %d op %d alignment", seed, op)
                            .isZero();
                    int first = (int) ((pa - BASE) / K4);
                    for (int i = first; i < first + (1 << order); i++) {
                        assertThat(used[i])
                                .as("seed %d op %d overlap at page %d", seed, op, i)
                                .isFalse();
                        used[i] = true;
                    }
                    live.put(pa, new Block(pa, size, use));
                } else {
                    State before = State.of(a);
                    assertThatThrownBy(() -> a.allocate(size, use))
                            .as("seed %d op %d", seed, op)
                            .isInstanceOf(PhysicalMemoryExhaustedException.class);
                    assertThat(State.of(a)).isEqualTo(before);
                }
            } else {
                List<Long> keys = new ArrayList<>(live.keySet());
                Block b = live.remove(keys.get(rnd.nextInt(keys.size())));
                a.free(b.pa(), b.size());
                int first = (int) ((b.pa() - BASE) / K4);
                for (int i = first; i < first + (int) (b.size() / K4); i++) {
                    used[i] = false;
                }
            }
            long buffer = 0;
            long table = 0;
            for (Block b : live.values()) {
                if (b.use() == PageUse.BUFFER) {
                    buffer += b.size();
                } else {
                    table += b.size();
                }
            }
            assertThat(a.usage())
                    .as("seed %d op %d", seed, op)
                    .isEqualTo(new Usage(pages * K4 - buffer - table, buffer, table, live.size()));
            if (op % 97 == 0) {
                assertThat(a.allocatedBlocks()).as("seed %d op %d", seed, op).containsExactlyElementsOf(live.values());
                long largest = 0;
                for (int order = 8; order >= 0 && largest == 0; order--) {
                    if (alignedFreeRun(used, 1 << order)) {
                        largest = K4 << order;
                    }
                }
                assertThat(a.largestFreeBlock()).as("seed %d op %d", seed, op).isEqualTo(largest);
            }
        }
        for (Block b : live.values()) {
            a.free(b.pa(), b.size());
        }
        assertThat(a.largestFreeBlock()).isEqualTo(pages * K4);
        assertThat(a.usage()).isEqualTo(new Usage(pages * K4, 0, 0, 0));
    }

    @Test
    void concurrentAllocateAndFreeKeepBlocksDisjointAndAccountingExact() throws Exception {
        PageAllocator a = allocator(4 * MIB);
        int threads = 4;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<List<Block>>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                results.add(pool.submit(() -> {
                    Random rnd = new Random(id);
                    List<Block> mine = new ArrayList<>();
                    start.await();
                    for (int i = 0; i < 5000; i++) {
                        if (mine.size() < 20 && rnd.nextBoolean()) {
                            mine.add(a.allocateLargest(K4 << rnd.nextInt(4), K4, PageUse.BUFFER));
                        } else if (!mine.isEmpty()) {
                            Block b = mine.remove(rnd.nextInt(mine.size()));
                            a.free(b.pa(), b.size());
                        }
                    }
                    return mine;
                }));
            }
            start.countDown();
            List<Block> live = new ArrayList<>();
            for (Future<List<Block>> f : results) {
                live.addAll(f.get(60, TimeUnit.SECONDS));
            }
            live.sort(Comparator.comparingLong(Block::pa));
            for (int i = 1; i < live.size(); i++) {
                assertThat(live.get(i).pa())
                        .isGreaterThanOrEqualTo(
                                live.get(i - 1).pa() + live.get(i - 1).size());
            }
            assertThat(a.allocatedBlocks()).containsExactlyElementsOf(live);
            long used = live.stream().mapToLong(Block::size).sum();
            assertThat(a.usage()).isEqualTo(new Usage(4 * MIB - used, used, 0, live.size()));
            for (Block b : live) {
                a.free(b.pa(), b.size());
            }
            assertThat(a.largestFreeBlock()).isEqualTo(4 * MIB);
        } finally {
            pool.shutdownNow();
        }
    }

    private static boolean alignedFreeRun(boolean[] used, int n) {
        outer:
        for (int start = 0; start + n <= used.length; start += n) {
            for (int i = start; i < start + n; i++) {
                if (used[i]) {
                    continue outer;
                }
            }
            return true;
        }
        return false;
    }
}
