package org.dmashare.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLongArray;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.memory.FailureInjector.Point;
import org.dmashare.memory.PageAllocator.Block;
import org.dmashare.memory.PageAllocator.Holding;
import org.dmashare.memory.PageAllocator.Usage;
import org.junit.jupiter.api.Test;

/** The per-CPU page lists of a memory made with {@link PhysicalMemory#withPageCaches}. */
class PageCachesTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long K4 = 4096;
    private static final long K16 = 4 * K4;
    private static final long MIB = 1L << 20;

    private final PhysicalMemory memory = PhysicalMemory.withPageCaches(BASE, MIB, 4096);
    private final PageAllocator a = memory.allocator();

    /** Runs {@code action} on a thread of its own, which has per-CPU lists of its own. */
    private static void onAnotherThread(Runnable action) throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            pool.submit(action).get(60, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void onlyAMemoryMadeWithPageCachesHasThem() {
        assertThat(a.hasPageCaches()).isTrue();
        PageAllocator plain = PhysicalMemory.create(BASE, MIB, 4096).allocator();
        assertThat(plain.hasPageCaches()).isFalse();
        long pa = plain.allocate(K16, PageUse.BUFFER);
        plain.free(pa, K16);
        assertThat(plain.cachedBlocks()).isZero();
        plain.drainCaches();
        assertThat(plain.largestFreeBlock()).isEqualTo(MIB);
    }

    @Test
    void aFreedBlockWaitsInTheThreadsListYetCountsAsFreeAndBelongsToNoOne() {
        long holder = a.newHolder();
        Block b = a.allocateLargest(K16, K16, PageUse.BUFFER, holder);
        a.free(b.pa(), K16, holder);
        assertThat(a.cachedBlocks()).isEqualTo(1);
        assertThat(a.usage()).isEqualTo(new Usage(MIB, 0, 0, 0));
        assertThat(a.allocatedBlocks()).isEmpty();
        assertThat(a.holding(b.pa())).isNull();
        assertThat(a.holding(b.pa() + K16 - 1)).isNull();
        assertThat(a.isAllocated(b.pa(), K4)).isFalse();
        assertThatThrownBy(() -> a.free(b.pa(), K16, holder))
                .as("a cached block is not live: a second free is a double free")
                .hasMessageContaining("no live block starts there");

        long next = a.newHolder();
        Block again = a.allocateLargest(K16, K16, PageUse.BUFFER, next);
        assertThat(again.pa())
                .as("the most recently freed block of the size is reused")
                .isEqualTo(b.pa());
        assertThat(a.cachedBlocks()).isZero();
        assertThat(a.holding(again.pa() + K4)).isEqualTo(new Holding(b.pa(), K16, PageUse.BUFFER, next));
        assertThat(a.usage()).isEqualTo(new Usage(MIB - K16, K16, 0, 1));
    }

    @Test
    void onlyBlocksOfOneToEightPagesAreCachedAndEachListIsBounded() {
        List<Long> pages = new ArrayList<>();
        for (int i = 0; i < PageAllocator.CACHE_HIGH + 10; i++) {
            pages.add(a.allocate(K4, PageUse.PAGE_TABLE));
        }
        long big = a.allocate(16 * K4, PageUse.BUFFER);
        for (long p : pages) {
            a.free(p, K4);
        }
        a.free(big, 16 * K4);
        assertThat(a.cachedBlocks())
                .as("one list of one-page blocks, full; 64 KiB is never cached")
                .isEqualTo(PageAllocator.CACHE_HIGH);
        assertThat(a.usage()).isEqualTo(new Usage(MIB, 0, 0, 0));
        a.drainCaches();
        assertThat(a.cachedBlocks()).isZero();
        assertThat(a.largestFreeBlock())
                .as("drained blocks coalesce with their buddies")
                .isEqualTo(MIB);
    }

    @Test
    void allocateAtOfACachedBlockReturnsTheCachesToTheFreeListsFirst() {
        long pa = a.allocate(K16, PageUse.BUFFER);
        a.free(pa, K16);
        Block b = a.allocateAt(pa + K4, K4, PageUse.PAGE_TABLE);
        assertThat(b).isEqualTo(new Block(pa + K4, K4, PageUse.PAGE_TABLE));
        assertThat(a.cachedBlocks()).isZero();
        assertThat(a.usage()).isEqualTo(new Usage(MIB - K4, 0, K4, 1));
    }

    @Test
    void exhaustionReturnsEveryThreadsCachedBlocksBeforeFailing() throws Exception {
        List<Long> blocks = new ArrayList<>();
        for (long i = 0; i < MIB / K16; i++) {
            blocks.add(a.allocate(K16, PageUse.BUFFER));
        }
        assertThat(blocks).hasSize(PageAllocator.CACHE_HIGH);
        onAnotherThread(() -> {
            for (long pa : blocks) {
                a.free(pa, K16);
            }
        });
        assertThat(a.cachedBlocks()).as("all in the other thread's list").isEqualTo(blocks.size());
        assertThat(a.usage().freeBytes()).isEqualTo(MIB);
        assertThat(a.allocate(MIB, PageUse.BUFFER)).isEqualTo(BASE);
        assertThat(a.cachedBlocks()).isZero();
        a.free(BASE, MIB);
        assertThat(a.cachedBlocks()).as("a 1 MiB block is not cached").isZero();
    }

    @Test
    void anAllocationTakesItsLargestSizeFromAnotherThreadsListRatherThanSettlingForLess() throws Exception {
        PhysicalMemory small = PhysicalMemory.withPageCaches(BASE, 2 * K16, 4096);
        PageAllocator s = small.allocator();
        long big = s.allocate(K16, PageUse.BUFFER);
        long[] pages = new long[4];
        for (int i = 0; i < pages.length; i++) {
            pages[i] = s.allocate(K4, PageUse.BUFFER);
        }
        s.free(pages[1], K4);
        s.drainCaches(); // one 4 KiB block on the free lists
        onAnotherThread(() -> s.free(big, K16)); // the 16 KiB block in another thread's list
        Block b = s.allocateLargest(K16, K4, PageUse.BUFFER);
        assertThat(b).isEqualTo(new Block(big, K16, PageUse.BUFFER));
        assertThat(s.usage()).isEqualTo(new Usage(K4, K16 + 3 * K4, 0, 4));
    }

    @Test
    void holderIdsReservedPerThreadAreUniqueAndUnreservedOnesAreRefused() throws Exception {
        Set<Long> ids = ConcurrentHashMap.newKeySet();
        int per = 3 * PageAllocator.HOLDER_BATCH + 5;
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                done.add(pool.submit(() -> {
                    for (int i = 0; i < per; i++) {
                        assertThat(ids.add(a.newHolder()))
                                .as("an id handed out twice")
                                .isTrue();
                    }
                }));
            }
            for (Future<?> f : done) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(ids).hasSize(2 * per).allMatch(id -> id > 0);
        long reservedEnd = 2 * 4L * PageAllocator.HOLDER_BATCH; // each thread reserved four batches
        assertThat(ids).allMatch(id -> id <= reservedEnd);
        assertThatThrownBy(() -> a.allocateLargest(K4, K4, PageUse.BUFFER, reservedEnd + 1))
                .hasMessageContaining("was never handed out");
    }

    @Test
    void anInjectedFailureFiresOnTheCachedPathAndChangesNothing() {
        long pa = a.allocate(K16, PageUse.BUFFER);
        a.free(pa, K16);
        memory.failures().failNth(Point.PAGE_ALLOCATION, 1);
        assertThatThrownBy(() -> a.allocate(K16, PageUse.BUFFER)).isInstanceOf(PhysicalMemoryExhaustedException.class);
        assertThat(a.cachedBlocks()).isEqualTo(1);
        assertThat(a.usage()).isEqualTo(new Usage(MIB, 0, 0, 0));
        assertThat(a.allocate(K16, PageUse.BUFFER)).isEqualTo(pa);
        memory.failures().clear();
    }

    @Test
    void concurrentHoldersNeverShareAPageAndEveryByteComesBack() throws Exception {
        long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
        int scale = Integer.getInteger("dmashare.test.scale", 1);
        System.out.println("PageCachesTest.concurrentHoldersNeverShareAPageAndEveryByteComesBack seed=" + seed
                + " scale=" + scale);
        long size = MIB; // small enough that the threads exhaust it and drain each other's lists
        PhysicalMemory m = PhysicalMemory.withPageCaches(BASE, size, 4096);
        PageAllocator s = m.allocator();
        AtomicLongArray owner = new AtomicLongArray((int) (size / K4));
        int threads = 4;
        int ops = 20_000 * scale;
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            List<Future<Integer>> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long threadSeed = seed + t;
                workers.add(pool.submit(() -> {
                    Random rnd = new Random(threadSeed);
                    List<Block> mine = new ArrayList<>();
                    List<Long> holders = new ArrayList<>();
                    int exhausted = 0;
                    start.await();
                    for (int i = 0; i < ops; i++) {
                        if (mine.size() < 32 && rnd.nextInt(3) != 0) {
                            long holder = s.newHolder();
                            Block b;
                            try {
                                long max = K4 << rnd.nextInt(5);
                                b = s.allocateLargest(max, rnd.nextBoolean() ? K4 : max, PageUse.BUFFER, holder);
                            } catch (PhysicalMemoryExhaustedException e) {
                                exhausted++;
                                continue;
                            }
                            for (long p = b.pa(); p < b.pa() + b.size(); p += K4) {
                                int page = (int) ((p - BASE) / K4);
                                assertThat(owner.compareAndSet(page, 0, holder))
                                        .as(
                                                "seed %d: page %x handed to holder %d while holder %d has it",
                                                seed, p, holder, owner.get(page))
                                        .isTrue();
                            }
                            assertThat(s.holding(b.pa() + b.size() - K4))
                                    .isEqualTo(new Holding(b.pa(), b.size(), PageUse.BUFFER, holder));
                            mine.add(b);
                            holders.add(holder);
                        } else if (!mine.isEmpty()) {
                            int k = rnd.nextInt(mine.size());
                            Block b = mine.remove(k);
                            long holder = holders.remove(k);
                            for (long p = b.pa(); p < b.pa() + b.size(); p += K4) {
                                owner.set((int) ((p - BASE) / K4), 0);
                            }
                            s.free(b.pa(), b.size(), holder);
                        }
                    }
                    for (int k = 0; k < mine.size(); k++) {
                        Block b = mine.get(k);
                        for (long p = b.pa(); p < b.pa() + b.size(); p += K4) {
                            owner.set((int) ((p - BASE) / K4), 0);
                        }
                        s.free(b.pa(), b.size(), holders.get(k));
                    }
                    return exhausted;
                }));
            }
            // Meanwhile another thread drains and queries: it must never see more than the memory.
            Future<?> observer = pool.submit(() -> {
                start.await();
                for (int i = 0; i < 200 * scale; i++) {
                    Usage u = s.usage();
                    assertThat(u.freeBytes() + u.usedBytes()).isEqualTo(size);
                    assertThat(u.freeBytes()).isBetween(0L, size);
                    s.drainCaches();
                }
                return null;
            });
            start.countDown();
            int exhausted = 0;
            for (Future<Integer> w : workers) {
                exhausted += w.get(120, TimeUnit.SECONDS);
            }
            observer.get(120, TimeUnit.SECONDS);
            System.out.println("PageCachesTest: " + exhausted + " allocations found the memory exhausted");
        } finally {
            pool.shutdownNow();
        }
        assertThat(s.allocatedBlocks()).isEmpty();
        assertThat(s.usage()).isEqualTo(new Usage(size, 0, 0, 0));
        assertThat(s.largestFreeBlock())
                .as("every cached block came back and coalesced")
                .isEqualTo(size);
        assertThat(s.cachedBlocks()).isZero();
    }
}
