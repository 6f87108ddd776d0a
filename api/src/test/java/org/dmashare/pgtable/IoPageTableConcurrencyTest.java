package org.dmashare.pgtable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.fixture.ForwardingFormat;
import org.dmashare.fixture.TwoLevelFormat;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.FailureInjector;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Maps and unmaps of disjoint ranges of one {@link IoPageTable} from several threads, on the
 * test-only {@link TwoLevelFormat} (4 KiB pages in 512-entry last-level tables, 2 MiB blocks at
 * the root). The threads' ranges are interleaved so that they share last-level tables: tables are
 * created, kept, replaced by blocks and freed while other threads store leaves beside them without
 * the lock, and table allocations fail at random so that failed maps roll back while others
 * reserve entries in the tables those maps created. Every thread checks its own mappings by
 * walking the tables in memory as a device would; afterwards the tables in memory are exactly
 * the ones the page table owns and the page allocator accounts for, and close gives every page
 * back.
 */
class IoPageTableConcurrencyTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long PAGE = 0x1000;
    private static final long BLOCK = 0x20_0000;
    private static final int THREADS = Integer.getInteger("dmashare.test.threads", 4);
    private static final int OPS = 3_000 * Integer.getInteger("dmashare.test.scale", 1);
    /** Blocks whose pages every thread maps in 4-page chunks, the chunks dealt out in turn. */
    private static final int SHARED_BLOCKS = 4;
    /** Chunks start 2 pages into a block, so that one chunk per block boundary spans two tables. */
    private static final long CHUNK_OFFSET = 2 * PAGE;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 256L << 20, 4096);

    @Test
    void aMapOrUnmapInTablesInPlaceTakesNoLockAndOneThatNeedsATableWaitsForIt() throws Exception {
        IoPageTable table = new IoPageTable(memory, new TwoLevelFormat(12, TableLifetime.UNTIL_FREED));
        long pa = memory.allocator().allocate(4 * PAGE, PageUse.BUFFER);
        table.map(0, pa, PAGE, Prot.READ_WRITE);
        CountDownLatch held = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Thread holder = new Thread(() -> {
            synchronized (table.lock()) {
                held.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        holder.start();
        try {
            held.await();
            CompletableFuture<Long> inPlace = CompletableFuture.supplyAsync(() -> {
                table.map(PAGE, pa + PAGE, 2 * PAGE, Prot.READ);
                return table.unmap(PAGE, 2 * PAGE);
            });
            assertThat(inPlace.get(30, TimeUnit.SECONDS))
                    .as("map and unmap in the root's existing table while another thread holds the lock")
                    .isEqualTo(2 * PAGE);

            Thread needsTable = new Thread(() -> table.map(BLOCK, pa + 3 * PAGE, PAGE, Prot.READ));
            needsTable.start();
            // It either blocks on the lock or, if the map took no lock, finishes: wait for one.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (needsTable.getState() != Thread.State.BLOCKED
                    && needsTable.getState() != Thread.State.TERMINATED
                    && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(needsTable.getState())
                    .as("a map that must create a table waits for the lock")
                    .isEqualTo(Thread.State.BLOCKED);
            release.countDown();
            needsTable.join(TimeUnit.SECONDS.toMillis(30));
            assertThat(needsTable.isAlive())
                    .as("the map finished once the lock was free")
                    .isFalse();
        } finally {
            release.countDown();
            holder.join();
        }
        assertThat(PageTableWalker.leaves(memory, table.format(), table.rootPa()))
                .extracting(Translation::iova)
                .containsExactly(0L, BLOCK);
        table.close();
    }

    /**
     * The race a failed map's rollback must survive, made deterministic: a map spanning two blocks
     * creates the first block's table and, while it stores its leaves there (still holding the
     * lock), another thread maps a page of its own into that table without the lock; then the
     * second table cannot be allocated. The rollback removes the failed map's leaves, but must
     * keep the table the other thread's page is in.
     */
    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void aFailedMapKeepsATableItCreatedOnceAnotherThreadMappedIntoIt(TableLifetime lifetime) throws Exception {
        List<PageAllocator.Block> empty = memory.allocator().allocatedBlocks();
        long pa = memory.allocator().allocate(2 * BLOCK, PageUse.BUFFER);
        AtomicBoolean armed = new AtomicBoolean();
        IoPageTable[] holder = new IoPageTable[1];
        PteFormat hooked = new HookedFormat(new TwoLevelFormat(12, lifetime), () -> {
            if (armed.getAndSet(false)) {
                CompletableFuture<Void> other = CompletableFuture.runAsync(() -> holder[0].map(0, pa, PAGE, Prot.READ));
                try {
                    other.get(30, TimeUnit.SECONDS); // a map that waited for the lock would time out
                } catch (Exception e) {
                    throw new AssertionError("the other thread's map into the new table did not finish", e);
                }
            }
        });
        IoPageTable table = new IoPageTable(memory, hooked);
        holder[0] = table;
        armed.set(true);
        memory.failures().failNth(FailureInjector.Point.TABLE_PAGE_ALLOCATION, 2);
        try {
            assertThatThrownBy(() -> table.map(BLOCK - 4 * PAGE, pa + BLOCK - 4 * PAGE, 8 * PAGE, Prot.READ_WRITE))
                    .isInstanceOf(PhysicalMemoryExhaustedException.class);
        } finally {
            memory.failures().clear();
        }
        assertThat(armed).as("the other thread ran").isFalse();
        assertThat(PageTableWalker.leaves(memory, hooked, table.rootPa()))
                .as("the other thread's page stays mapped; the failed map left nothing")
                .extracting(Translation::iova, Translation::pa)
                .containsExactly(tuple(0L, pa));
        assertThat(table.tablePages()).hasSize(2);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(2 * PAGE);
        table.close();
        memory.allocator().free(pa, 2 * BLOCK);
        assertThat(memory.allocator().allocatedBlocks()).isEqualTo(empty);
    }

    /** A format that runs a hook each time the engine encodes a leaf: a window inside a map. */
    private record HookedFormat(PteFormat base, Runnable onLeaf) implements ForwardingFormat {
        @Override
        public long encodeLeaf(long pa, Prot prot, int level) {
            onLeaf.run();
            return base.encodeLeaf(pa, prot, level);
        }
    }

    @ParameterizedTest
    @EnumSource(TableLifetime.class)
    void threadsMappingDisjointRangesOfSharedTablesKeepTablesAndAccountingExact(TableLifetime lifetime)
            throws Exception {
        for (boolean blocks : new boolean[] {true, false}) {
            long seed = Long.getLong("dmashare.test.seed", System.nanoTime());
            String run = "seed " + seed + ", " + lifetime + (blocks ? "" : " pages only");
            System.out.println("IoPageTableConcurrencyTest " + run + " (rerun with -Ddmashare.test.seed=" + seed + ")");
            campaign(lifetime, blocks, seed, run);
        }
    }

    private void campaign(TableLifetime lifetime, boolean blocks, long seed, String run) throws Exception {
        List<PageAllocator.Block> empty = memory.allocator().allocatedBlocks();
        TwoLevelFormat two = new TwoLevelFormat(12, lifetime);
        PteFormat format = blocks ? two : new TableLifetimeTest.PagesOnly(two);
        IoPageTable table = new IoPageTable(memory, format);
        long window = (SHARED_BLOCKS + THREADS + 1) * BLOCK;
        long pa0 = memory.allocator().allocate(Long.highestOneBit(window) << 1, PageUse.BUFFER); // aligned
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService executor = Executors.newFixedThreadPool(THREADS + 1);
        List<Future<TreeMap<Long, Long>>> work = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int me = t;
            work.add(executor.submit(() -> worker(table, me, pa0, blocks, new Random(seed + me), run)));
        }
        Future<?> chaos = executor.submit(() -> {
            Random rnd = new Random(seed - 1);
            while (!stop.get()) {
                memory.failures().failNth(FailureInjector.Point.TABLE_PAGE_ALLOCATION, 1 + rnd.nextInt(4));
                LockSupport.parkNanos(50_000);
            }
            memory.failures().clear();
            return null;
        });
        TreeMap<Long, Long> expected = new TreeMap<>();
        try {
            for (Future<TreeMap<Long, Long>> f : work) {
                expected.putAll(f.get(120, TimeUnit.SECONDS));
            }
        } finally {
            stop.set(true);
            chaos.get(30, TimeUnit.SECONDS);
            executor.shutdownNow();
        }

        Map<Long, Long> inMemory = new TreeMap<>();
        for (Translation tr : PageTableWalker.leaves(memory, format, table.rootPa())) {
            inMemory.put(tr.iova(), tr.pa());
        }
        Map<Long, Long> wanted = new TreeMap<>();
        expected.forEach((iova, size) -> {
            for (long off = 0; off < size; off += size == BLOCK ? BLOCK : PAGE) {
                wanted.put(iova + off, pa0 + iova + off);
            }
        });
        assertThat(inMemory)
                .as("%s: the leaves in memory are the threads' own", run)
                .isEqualTo(wanted);
        List<Long> reachable = new ArrayList<>(List.of(table.rootPa()));
        for (int i = 0; i < 512; i++) {
            long pte = memory.readLong(table.rootPa() + 8L * i);
            if (format.kind(pte, 0) == PteKind.TABLE) {
                reachable.add(format.address(pte, 0));
            }
        }
        assertThat(table.tablePages())
                .as("%s: the tables in memory are exactly the page table's, none lost", run)
                .containsExactlyInAnyOrderElementsOf(reachable);
        assertThat(memory.allocator().usage().tableBytes())
                .as("%s: and exactly the allocator's table pages", run)
                .isEqualTo(PAGE * reachable.size());

        table.close();
        memory.allocator().free(pa0, Long.highestOneBit(window) << 1);
        assertThat(memory.allocator().allocatedBlocks())
                .as("%s: close gives every page back", run)
                .isEqualTo(empty);
    }

    /**
     * One thread's random maps and unmaps of its own ranges: 4-page chunks dealt out in turn in the
     * shared blocks, and one private block for blocks and whole-block unmaps. Returns its leaves,
     * first IOVA to size.
     */
    private TreeMap<Long, Long> worker(IoPageTable table, int me, long pa0, boolean blocks, Random rnd, String run) {
        TreeMap<Long, Long> mine = new TreeMap<>();
        long chunks = SHARED_BLOCKS * 512 / 4 - 1;
        long privateBlock = (SHARED_BLOCKS + me) * BLOCK;
        for (int op = 0; op < OPS; op++) {
            long iova;
            long size;
            if (rnd.nextInt(4) == 0) {
                iova = privateBlock + (rnd.nextBoolean() ? 0 : PAGE * rnd.nextInt(512));
                size = iova == privateBlock && rnd.nextBoolean() ? BLOCK : PAGE * (1 + rnd.nextInt(4));
                size = Math.min(size, privateBlock + BLOCK - iova);
            } else {
                long chunk = me + (long) THREADS * rnd.nextInt((int) (chunks / THREADS));
                iova = CHUNK_OFFSET + 4 * PAGE * chunk;
                size = 4 * PAGE;
            }
            long from = iova;
            long to = iova + size;
            boolean free =
                    mine.subMap(from - BLOCK, to).entrySet().stream().noneMatch(e -> e.getKey() + e.getValue() > from);
            String at = run + ", thread " + me + " op " + op + " at " + Long.toHexString(iova);
            if (free) {
                try {
                    table.map(iova, pa0 + iova, size, Prot.READ_WRITE);
                } catch (PhysicalMemoryExhaustedException e) {
                    assertTranslations(table, from, to, pa0, false, at + ": failed map");
                    continue;
                }
                for (long done = 0; done < size; ) {
                    long leaf = blocks && ((iova + done) & (BLOCK - 1)) == 0 && size - done >= BLOCK ? BLOCK : PAGE;
                    mine.put(iova + done, leaf);
                    done += leaf;
                }
                assertTranslations(table, from, to, pa0, true, at + ": map");
            } else {
                // whole leaves: the private block whole if it holds a block or by chance, else the range
                boolean wholeBlock = iova >= privateBlock
                        && (Long.valueOf(BLOCK).equals(mine.get(privateBlock)) || rnd.nextBoolean());
                long start = wholeBlock ? privateBlock : from;
                long end = wholeBlock ? privateBlock + BLOCK : to;
                long expected = mine.subMap(start, end).values().stream()
                        .mapToLong(Long::longValue)
                        .sum();
                assertThat(table.unmap(start, end - start)).as("%s: unmap", at).isEqualTo(expected);
                mine.subMap(start, end).clear();
                assertTranslations(table, start, end, pa0, false, at + ": unmap");
            }
        }
        return mine;
    }

    /** Walks the tables in memory from the root, as a device does, over {@code [from, to)}. */
    private void assertTranslations(IoPageTable table, long from, long to, long pa0, boolean mapped, String at) {
        for (long iova = from; iova < to; iova += PAGE) {
            PageTableWalker.Result r = PageTableWalker.walk(memory, table.format(), table.rootPa(), iova);
            if (mapped) {
                assertThat(r.ok()).as("%s: %x translates", at, iova).isTrue();
                assertThat(r.translation().pa()).as("%s: %x", at, iova).isEqualTo(pa0 + iova);
            } else {
                assertThat(r.ok()).as("%s: %x faults", at, iova).isFalse();
            }
        }
    }
}
