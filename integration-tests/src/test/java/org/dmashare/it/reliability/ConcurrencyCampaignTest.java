package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.it.rig.Rig;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Concurrency (guarantee 9), harder than {@code sharing.DmaSharingConcurrencyTest}: the buffers
 * are in one small pool (2 per thread) shared by every thread, so threads late-share, unshare and
 * close buffers other threads are doing DMA on, and import buffers' exports into a further domain, so
 * that owners are closed while importers keep doing DMA on the pinned pages. N threads ({@code -Ddmashare.test.threads}, default 4) each run a
 * bounded number of operations (1,500 x {@code dmashare.test.scale}); the whole run must end
 * within 120 s or the test fails (no deadlock).
 *
 * <p>A device access may fault only if an unshare or close of that buffer was in progress when the
 * access started or began after it (each buffer counts the unshares and closes that started and
 * that finished); a DMA that no unshare or close overlapped must read exactly what the thread wrote into its own slot of the buffer,
 * through every domain. Afterwards: the IOVA allocators hold exactly the live buffers' ranges,
 * which never overlap; every live buffer translates correctly in every domain and over-exposes
 * nothing; page accounting balances; and once all are closed the state is the initial one.
 */
class ConcurrencyCampaignTest {
    static final int THREADS = Integer.getInteger("dmashare.test.threads", 4);
    static final int OPS = 1_500 * Campaign.SCALE;
    static final int SLOT = 0x1000;
    static final int POOL = 2 * THREADS;
    private static final AtomicLongArray TOTALS = new AtomicLongArray(9);
    private static final String[] KINDS = {
        "allocations",
        "late shares",
        "unshares",
        "closes",
        "DMA round trips",
        "races refused cleanly",
        "faults explained by a racing unmap",
        "runs",
        "imports of an export"
    };

    /** A pooled buffer with counters of the unshares and closes that started and that finished. */
    record Entry(SharedBuffer buffer, AtomicLong started, AtomicLong finished) {
        Entry(SharedBuffer buffer) {
            this(buffer, new AtomicLong(), new AtomicLong());
        }

        void unmapping(Runnable op) {
            started.incrementAndGet();
            try {
                op.run();
            } finally {
                finished.incrementAndGet();
            }
        }
    }

    @ParameterizedTest
    @MethodSource("org.dmashare.it.rig.Rig#trios")
    void threadsSharingClosingAndDoingDmaOnSharedBuffersKeepEveryInvariant(String[] set) throws Exception {
        campaign(new Rig(256L << 20, 4096, set), set);
    }

    /** The same over a memory with per-CPU page lists and IOVA caches: pages and ranges recycled at once. */
    @ParameterizedTest
    @MethodSource("org.dmashare.it.rig.Rig#trios")
    void theSameHoldsWithPerCpuPageListsAndIovaCaches(String[] set) throws Exception {
        campaign(Rig.withPageCaches(256L << 20, 4096, set), set);
    }

    private static void campaign(Rig rig, String[] set) throws Exception {
        Rig.State initial = rig.state();
        long bufferBytes = rig.memory.allocator().usage().bufferBytes();
        long seed = Campaign.seed("concurrency " + Arrays.toString(set));
        List<Entry> pool = new ArrayList<>();
        ShareOptions opts = ShareOptions.builder().futureDomains(rig.domain(2)).build();
        IommuDomain late = rig.domain(2);
        ExecutorService executor = Executors.newFixedThreadPool(THREADS);
        List<Future<?>> work = new ArrayList<>();
        for (int t = 0; t < THREADS; t++) {
            int me = t;
            Random random = new Random(seed + t);
            work.add(executor.submit(() -> {
                for (int op = 0; op < OPS; op++) {
                    int choice = random.nextInt(20);
                    Entry e;
                    boolean full;
                    synchronized (pool) {
                        e = pool.isEmpty() ? null : pool.get(random.nextInt(pool.size()));
                        full = pool.size() >= POOL;
                    }
                    if (choice < 5 && full) {
                        choice = 10; // keep the pool small, so that threads meet on the same buffers
                    }
                    try {
                        if (e == null || choice < 5) {
                            long size = (long) SLOT * THREADS + random.nextInt(0x1_0000);
                            ShareOptions o = random.nextInt(4) == 0
                                    ? ShareOptions.builder()
                                            .identicalIova(true)
                                            .futureDomains(late)
                                            .build()
                                    : opts;
                            SharedBuffer b = rig.sharing.allocate(size, rig.domains.subList(0, 2), o);
                            synchronized (pool) {
                                pool.add(new Entry(b));
                            }
                            TOTALS.incrementAndGet(0);
                        } else if (choice < 8) {
                            e.buffer().shareWith(late);
                            TOTALS.incrementAndGet(1);
                        } else if (choice < 10) {
                            e.unmapping(() -> e.buffer().unshare(late));
                            TOTALS.incrementAndGet(2);
                        } else if (choice < 12) {
                            boolean mine;
                            synchronized (pool) {
                                mine = pool.remove(e);
                            }
                            if (mine) {
                                e.unmapping(e.buffer()::close);
                                TOTALS.incrementAndGet(3);
                            }
                        } else if (choice < 13) {
                            // lend the buffer's pages to an importer in the late domain; other threads may
                            // close the owner while this importer's DMA goes on
                            SharedBuffer imported;
                            try (PageLease lease = e.buffer().export()) {
                                imported = rig.sharing.importScatterList(
                                        lease, e.buffer().blocks(), List.of(late), ShareOptions.DEFAULTS);
                            }
                            synchronized (pool) {
                                pool.add(new Entry(imported));
                            }
                            TOTALS.incrementAndGet(8);
                        } else {
                            dmaRoundTrip(e, me, op);
                        }
                    } catch (ObjectClosedException | MappingConflictException | PhysicalMemoryExhaustedException race) {
                        TOTALS.incrementAndGet(5); // closed by another thread, identical range taken, memory full
                    } catch (InvalidArgumentException race) {
                        if (!race.getMessage().contains("already mapped")
                                && !race.getMessage().contains("not mapped")) {
                            throw race;
                        }
                        TOTALS.incrementAndGet(5); // another thread shared or unshared it first
                    }
                }
                return null;
            }));
        }
        executor.shutdown();
        boolean finished = executor.awaitTermination(120, TimeUnit.SECONDS);
        if (!finished) {
            executor.shutdownNow();
        }
        assertThat(finished)
                .as("no deadlock: %d threads x %d operations finished within 120 s", THREADS, OPS)
                .isTrue();
        for (Future<?> f : work) {
            f.get();
        }

        // ---- invariants ----
        List<SharedBuffer> live = pool.stream().map(Entry::buffer).toList();
        assertThat(rig.sharing.liveBuffers()).isEqualTo(live.size());
        // pages balance: each holder's pages once, however many live owners and importers hold them
        Map<Long, Long> holders = new HashMap<>();
        for (SharedBuffer b : live) {
            holders.put(rig.memory.allocator().holding(b.physicalAddress(0)).holder(), b.length());
        }
        assertThat(rig.memory.allocator().usage().bufferBytes())
                .isEqualTo(bufferBytes
                        + holders.values().stream().mapToLong(Long::longValue).sum());
        for (IommuDomain d : rig.domains) {
            List<IovaAllocator.Range> ranges = new ArrayList<>();
            for (SharedBuffer b : live) {
                if (b.isMappedIn(d)) {
                    Rig.assertContiguous(b, d);
                    ranges.add(new IovaAllocator.Range(b.iova(d), b.length()));
                    byte[] cpu = b.read(0, (int) b.length());
                    assertThat(Rig.device(d).read(b.iova(d), (int) b.length()))
                            .as("DMA through %s", d)
                            .isEqualTo(cpu);
                }
            }
            ranges.sort((p, q) -> Long.compare(p.start(), q.start()));
            for (int i = 1; i < ranges.size(); i++) {
                assertThat(ranges.get(i).start())
                        .as("no overlapping IOVA ranges in %s", d)
                        .isGreaterThanOrEqualTo(ranges.get(i - 1).end());
            }
            assertThat(d.iovaSpace().snapshot().allocated())
                    .as("IOVA allocator of %s holds exactly the live ranges", d)
                    .isEqualTo(ranges);
            Rig.assertNoOverExposure(d, live);
            d.iommu().clearFaults();
        }
        for (SharedBuffer b : live) {
            b.close();
        }
        assertThat(rig.state()).as("all closed: everything balances").isEqualTo(initial);
        assertThat(rig.sharing.liveBuffers()).isZero();
        TOTALS.incrementAndGet(7);
    }

    /** Writes this thread's slot through one domain, reads it back through every domain. */
    private static void dmaRoundTrip(Entry e, int thread, int op) {
        long finished = e.finished().get();
        long started = e.started().get();
        boolean unmapInProgress = started > finished;
        List<SharedBuffer.Mapping> mappings = e.buffer().mappings();
        if (mappings.isEmpty()) {
            return;
        }
        byte[] data = Rig.pattern(SLOT, thread * 1_000_003 + op);
        long offset = (long) thread * SLOT;
        try {
            SharedBuffer.Mapping w = mappings.get(op % mappings.size());
            Rig.device(w.domain()).write(w.iova() + offset, data);
            for (SharedBuffer.Mapping m : mappings) {
                byte[] back = Rig.device(m.domain()).read(m.iova() + offset, SLOT);
                if (!Arrays.equals(back, data)
                        && !unmapInProgress
                        && e.started().get() == started) {
                    throw new AssertionError("DMA through " + m + " read other bytes than thread " + thread
                            + " wrote, with" + " no unshare or close of " + e.buffer() + " overlapping");
                }
            }
            TOTALS.incrementAndGet(4);
        } catch (DeviceFaultException fault) {
            if (!unmapInProgress && e.started().get() == started) {
                throw new AssertionError(
                        "device fault on " + e.buffer() + " with no unshare or close overlapping: " + fault, fault);
            }
            TOTALS.incrementAndGet(6);
        }
    }

    @AfterAll
    static void summary() {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < KINDS.length; i++) {
            s.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%,d %s", TOTALS.get(i), KINDS[i]));
        }
        Campaign.summary("concurrency", "%d threads x %,d operations per run: %s", THREADS, OPS, s);
    }
}
