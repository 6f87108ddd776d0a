package org.dmashare.iova;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.internal.GuardedBy;
import org.dmashare.internal.LongLongMap;
import org.dmashare.memory.FailureInjector;

/**
 * Hands out IOVA ranges of one domain's address space {@code [start, end)}, like Linux's
 * {@code drivers/iommu/iova.c}: the highest free range that fits below a limit, aligned as asked
 * (top-down first fit). Unlike iova.c's linear walk, free space is kept in a B-tree of free ranges
 * augmented with the largest gap of every subtree (a package-private class of its own), so
 * allocation and free are O(log n) however many ranges are live, with a handful of short array
 * scans per operation.
 *
 * <p>All sizes, addresses and alignments are multiples of the granule. Ranges can be reserved
 * (never handed out, never freed). Freeing anything but exactly a live allocation is refused.
 *
 * <p>Thread-safe: without range caches every method that reads or changes the ranges holds this
 * object's monitor for the whole operation, so each is atomic; with them, allocations and frees
 * served by the calling thread's cache take only that cache's and one live stripe's monitors (see
 * the package documentation for the locks and the order callers nest them in).
 */
public final class IovaAllocator {

    /**
     * One allocated or reserved range.
     *
     * @param start first IOVA
     * @param size number of bytes
     */
    public record Range(long start, long size) {
        /**
         * One past the last IOVA.
         *
         * @return {@code start + size}
         */
        public long end() {
            return start + size;
        }

        @Override
        public String toString() {
            return Hex.range(start, size);
        }
    }

    /**
     * The allocator's complete state, comparable with {@code equals} to prove an operation left
     * it exactly as before.
     *
     * @param allocated live allocations, sorted by address
     * @param reserved reserved ranges, sorted by address
     */
    public record Snapshot(List<Range> allocated, List<Range> reserved) {}

    /** Entries per tree node: a few cache lines of starts and ends, scanned in one go. */
    static final int DEFAULT_NODE_CAPACITY = 32;

    private final long start;
    private final long end;
    private final long granule;
    private final FailureInjector failures;
    /**
     * Live allocations, start to size, spread over stripes by address; primitive so allocate +
     * free box and allocate nothing. Without range caches there is one stripe, guarded by this
     * object's lock; with them each stripe is guarded by its own monitor.
     */
    private final LiveStripe[] live;
    /** {@code log2(granule)}: an IOVA's granule number is {@code iova >>> granuleShift}. */
    private final int granuleShift;
    /** {@code 64 - log2(live.length)}: the product bits above it pick a live stripe. */
    private final int liveShift;
    /** The per-thread range caches and their depot, or {@code null} when caching is off. */
    private final RangeCaches caches;

    @GuardedBy("this")
    private final TreeMap<Long, Long> reserved = new TreeMap<>();
    /** The free ranges. */
    @GuardedBy("this")
    private final FreeRangeTree free;
    /**
     * The path of the change in progress (allocate, allocate-at, reserve, free), reused by each of
     * them so that allocate and free allocate nothing: a cursor allocated per call looked slower
     * in the benchmark at a million live ranges. Changes hold this object's lock anyway; queries
     * ({@link #findFree}, {@link #isFree}) use a cursor of their own, so they do not depend on it.
     */
    @GuardedBy("this")
    private final FreeRangeTree.Cursor cursor = FreeRangeTree.newCursor();

    /**
     * Creates an allocator for {@code [start, end)}, all free.
     *
     * @param start lowest IOVA handed out; a multiple of {@code granule}
     * @param end one past the highest IOVA; a multiple of {@code granule}, above {@code start}
     * @param granule the unit of every size and address: a power of two
     * @param failures injector consulted before each allocation ({@link FailureInjector#none()}
     *     for one nothing arms)
     * @throws NullPointerException if {@code failures} is null
     * @throws InvalidArgumentException if the bounds are misaligned or empty
     */
    public IovaAllocator(long start, long end, long granule, FailureInjector failures) {
        this(start, end, granule, failures, DEFAULT_NODE_CAPACITY, false);
    }

    /**
     * Creates an allocator for {@code [start, end)}, all free, that keeps recently freed ranges
     * of 1, 2, 4, ... 32 granules in bounded per-thread caches with a shared depot, as Linux's
     * IOVA rcache does, so most allocations and frees of those sizes take no lock shared with
     * other threads (see {@link RangeCaches}). The price is placement: a cache hit returns the
     * most recently freed range of the size that satisfies the alignment and limit, not the
     * highest free one. Nothing else changes as callers see it: a cached range counts as free
     * ({@link #isFree}, {@link #liveRanges}, {@link #allocatedBytes}, {@link #snapshot}), every
     * method but {@link #allocate}, {@link #free}, {@link #liveRanges} and
     * {@link #allocatedBytes} first returns all cached ranges to the tree (so {@link #findFree},
     * {@link #allocateAt} and {@link #reserve} see the space exactly as without caches), and an
     * allocation the tree cannot serve empties every cache into the tree and tries again before
     * it reports exhaustion.
     *
     * @param start lowest IOVA handed out; a multiple of {@code granule}
     * @param end one past the highest IOVA; a multiple of {@code granule}, above {@code start}
     * @param granule the unit of every size and address: a power of two
     * @param failures injector consulted before each allocation ({@link FailureInjector#none()}
     *     for one nothing arms)
     * @return the new allocator
     * @throws NullPointerException if {@code failures} is null
     * @throws InvalidArgumentException if the bounds are misaligned or empty
     */
    public static IovaAllocator withRangeCaches(long start, long end, long granule, FailureInjector failures) {
        return new IovaAllocator(start, end, granule, failures, DEFAULT_NODE_CAPACITY, true);
    }

    /** As the public constructor, with a chosen node capacity so tests can build deep trees. */
    IovaAllocator(long start, long end, long granule, FailureInjector failures, int nodeCapacity) {
        this(start, end, granule, failures, nodeCapacity, false);
    }

    /** As the public constructor, with a chosen node capacity and range caches on or off. */
    IovaAllocator(long start, long end, long granule, FailureInjector failures, int nodeCapacity, boolean rangeCaches) {
        Objects.requireNonNull(
                failures, "failures is null; pass FailureInjector.none() for an allocator nothing fails");
        if (granule <= 0 || Long.bitCount(granule) != 1) {
            throw new InvalidArgumentException("IOVA granule must be a power of two, got " + Hex.of(granule));
        }
        if (start < 0 || end <= start || start % granule != 0 || end % granule != 0) {
            throw new InvalidArgumentException("IOVA space " + Hex.of(start) + ".." + Hex.of(end)
                    + " must be non-empty and aligned to the granule " + Hex.size(granule));
        }
        if (nodeCapacity < 4) {
            throw new InvalidArgumentException("node capacity must be at least 4, got " + nodeCapacity);
        }
        this.start = start;
        this.end = end;
        this.granule = granule;
        this.failures = failures;
        this.granuleShift = Long.numberOfTrailingZeros(granule);
        this.free = new FreeRangeTree(start, end, nodeCapacity);
        this.caches = rangeCaches ? new RangeCaches(granule) : null;
        // Many more live stripes than threads, so two threads' ranges rarely share one.
        this.live = new LiveStripe[rangeCaches ? 8 * caches.stripes() : 1];
        for (int i = 0; i < live.length; i++) {
            live[i] = new LiveStripe();
        }
        this.liveShift = 64 - Integer.numberOfTrailingZeros(live.length);
    }

    /**
     * Lowest IOVA this allocator can hand out.
     *
     * @return the start of the space
     */
    public long start() {
        return start;
    }

    /**
     * One past the highest IOVA.
     *
     * @return the end of the space
     */
    public long end() {
        return end;
    }

    /**
     * The unit of all sizes, addresses and alignments.
     *
     * @return the granule in bytes
     */
    public long granule() {
        return granule;
    }

    /**
     * Allocates the highest free range of {@code size} bytes aligned to {@code alignment}.
     *
     * @param size bytes, a positive multiple of the granule
     * @param alignment a power of two, at least the granule
     * @return the first IOVA of the range
     * @throws InvalidArgumentException if the size or alignment is invalid
     * @throws IovaSpaceExhaustedException if no such range is free; nothing is changed
     */
    public long allocate(long size, long alignment) {
        return allocate(size, alignment, end);
    }

    /**
     * Allocates the highest free range of {@code size} bytes aligned to {@code alignment} that ends
     * at or below {@code limit}.
     *
     * @param size bytes, a positive multiple of the granule
     * @param alignment a power of two, at least the granule
     * @param limit the range must end at or below this IOVA
     * @return the first IOVA of the range
     * @throws InvalidArgumentException if the size, alignment or limit is invalid
     * @throws IovaSpaceExhaustedException if no such range is free; nothing is changed
     */
    public long allocate(long size, long alignment, long limit) {
        checkRequest(size, alignment);
        failures.check(FailureInjector.Point.IOVA_ALLOCATION);
        long top = Math.min(limit, end);
        if (caches == null) {
            synchronized (this) {
                long at = takeFromTree(size, alignment, top);
                live[0].add(at, size);
                return at;
            }
        }
        long at = caches.take(size, alignment, top);
        if (at < 0) {
            synchronized (this) {
                at = caches.refillAndTake(size, alignment, top);
                if (at < 0) {
                    at = free.findHighest(cursor, size, alignment, top);
                    if (at >= 0) {
                        free.take(cursor, cursor.found, at, size);
                    } else {
                        caches.drainInto(this::giveToTree);
                        at = takeFromTree(size, alignment, top);
                    }
                }
            }
        }
        LiveStripe l = liveStripe(at);
        synchronized (l) {
            l.add(at, size);
        }
        return at;
    }

    /** Takes the highest fitting range from the tree, or throws; the caller holds this object's lock. */
    @GuardedBy("this")
    private long takeFromTree(long size, long alignment, long top) {
        FreeRangeTree.Cursor c = cursor;
        long at = free.findHighest(c, size, alignment, top);
        if (at < 0) {
            throw new IovaSpaceExhaustedException("no free IOVA range of " + Hex.size(size) + " aligned to "
                    + Hex.size(alignment) + " below " + Hex.of(top) + " in "
                    + Hex.range(start, end - start) + "; " + liveRanges() + " ranges live, "
                    + Hex.size(allocatedBytes()) + " allocated, largest free gap " + Hex.of(free.maxGap()));
        }
        free.take(c, c.found, at, size);
        return at;
    }

    /** Returns a range to the tree; the caller holds this object's lock. */
    @GuardedBy("this")
    private void giveToTree(long iova, long size) {
        free.give(cursor, iova, iova + size);
    }

    /**
     * Allocates exactly {@code [iova, iova + size)}.
     *
     * @param iova first IOVA, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @throws InvalidArgumentException if the range is misaligned or outside the space
     * @throws MappingConflictException if any part of the range is allocated or reserved; nothing
     *     is changed
     * @throws IovaSpaceExhaustedException if an injected failure fires
     */
    public synchronized void allocateAt(long iova, long size) {
        checkFixed(iova, size);
        failures.check(FailureInjector.Point.IOVA_ALLOCATION);
        drainCaches();
        FreeRangeTree.Cursor c = cursor;
        int i = free.locate(c, iova);
        if (!free.fitsIn(c, i, iova, size)) {
            throw new MappingConflictException(
                    "IOVA range " + Hex.range(iova, size) + " is not free: it overlaps an allocated or reserved range");
        }
        free.take(c, i, iova, size);
        LiveStripe l = liveStripe(iova);
        synchronized (l) {
            l.add(iova, size);
        }
    }

    /**
     * Reserves {@code [iova, iova + size)} so it is never handed out. Reserved ranges cannot be
     * freed.
     *
     * @param iova first IOVA, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @throws InvalidArgumentException if the range is misaligned or outside the space
     * @throws MappingConflictException if part of it is already allocated or reserved
     */
    public synchronized void reserve(long iova, long size) {
        checkFixed(iova, size);
        drainCaches();
        FreeRangeTree.Cursor c = cursor;
        int i = free.locate(c, iova);
        if (!free.fitsIn(c, i, iova, size)) {
            throw new MappingConflictException(
                    "cannot reserve " + Hex.range(iova, size) + ": it overlaps an allocated or reserved range");
        }
        free.take(c, i, iova, size);
        reserved.put(iova, size);
    }

    /**
     * Frees a live allocation. With range caches, a range of a cached size goes to this thread's
     * cache rather than to the tree; it counts as free all the same.
     *
     * @param iova the address an allocation returned
     * @param size the size it was allocated with
     * @throws InvalidArgumentException if {@code [iova, iova + size)} is not exactly a live
     *     allocation; nothing is changed
     */
    public void free(long iova, long size) {
        if (caches == null) {
            synchronized (this) {
                live[0].remove(iova, size);
                giveToTree(iova, size);
            }
            return;
        }
        LiveStripe l = liveStripe(iova);
        synchronized (l) {
            l.remove(iova, size);
        }
        if (!caches.put(iova, size)) {
            synchronized (this) {
                if (!caches.putOrSpill(iova, size, this::giveToTree)) {
                    giveToTree(iova, size);
                }
            }
        }
    }

    /**
     * Finds, without allocating, the highest free range of {@code size} bytes aligned to
     * {@code alignment} ending at or below {@code limit}. With range caches, cached ranges are
     * first returned to the tree, so the answer is the same as without caches.
     *
     * @param size bytes, a positive multiple of the granule
     * @param alignment a power of two, at least the granule
     * @param limit the range must end at or below this IOVA
     * @return the first IOVA of that range, or -1 if there is none
     * @throws InvalidArgumentException if the size or alignment is invalid
     */
    public synchronized long findFree(long size, long alignment, long limit) {
        checkRequest(size, alignment);
        drainCaches();
        return free.findHighest(free.readCursor(), size, alignment, Math.min(limit, end));
    }

    /**
     * Whether every IOVA of {@code [iova, iova + size)} is inside the space and neither allocated
     * nor reserved (a range in a range cache is free).
     *
     * @param iova first IOVA
     * @param size bytes
     * @return true if the whole range is free
     */
    public synchronized boolean isFree(long iova, long size) {
        if (size <= 0 || iova < start || iova > end - size) {
            return false;
        }
        drainCaches();
        FreeRangeTree.Cursor c = free.readCursor();
        return free.fitsIn(c, free.locate(c, iova), iova, size);
    }

    /**
     * Returns every range held in the range caches to the tree, as an exhausted allocation does;
     * a no-op without range caches. Changes nothing callers can observe but the placement of
     * later allocations.
     */
    public synchronized void drainCaches() {
        if (caches != null) {
            caches.drainInto(this::giveToTree);
        }
    }

    /**
     * Number of live allocations (reserved and cached ranges not counted). Exact with respect to
     * every allocation and free that returned before this call began.
     *
     * @return the count
     */
    public int liveRanges() {
        if (caches == null) {
            synchronized (this) {
                return live[0].ranges.size();
            }
        }
        int n = 0;
        for (LiveStripe l : live) {
            synchronized (l) {
                n += l.ranges.size();
            }
        }
        return n;
    }

    /**
     * Bytes in live allocations (reserved and cached ranges not counted). Exact with respect to
     * every allocation and free that returned before this call began.
     *
     * @return the sum of their sizes
     */
    public long allocatedBytes() {
        if (caches == null) {
            synchronized (this) {
                return live[0].bytes;
            }
        }
        long n = 0;
        for (LiveStripe l : live) {
            synchronized (l) {
                n += l.bytes;
            }
        }
        return n;
    }

    /**
     * The complete state, for equality checks.
     *
     * @return allocations and reservations sorted by address
     */
    public synchronized Snapshot snapshot() {
        List<Range> a = new ArrayList<>();
        forEachLive((s, n) -> a.add(new Range(s, n)));
        a.sort(Comparator.comparingLong(Range::start));
        List<Range> r = new ArrayList<>();
        reserved.forEach((s, n) -> r.add(new Range(s, n)));
        return new Snapshot(List.copyOf(a), List.copyOf(r));
    }

    /** Visits every live allocation, each stripe under its lock when stripes have locks. */
    private void forEachLive(LongLongMap.EntryConsumer action) {
        for (LiveStripe l : live) {
            synchronized (l) {
                l.ranges.forEach(action);
            }
        }
    }

    private LiveStripe liveStripe(long iova) {
        return live[liveStripeIndex(iova)];
    }

    /**
     * The live stripe of {@code iova}: the top bits of its granule number times an odd 64-bit
     * constant (multiplicative hashing), so ranges a granule apart, which one thread's cache hands
     * out in turn, land on different stripes. Middle bits of the product, used at first, kept
     * neighbouring ranges together and made two threads meet on one stripe lock.
     */
    int liveStripeIndex(long iova) {
        return live.length == 1 ? 0 : (int) (((iova >>> granuleShift) * 0xC2B2_AE3D_27D4_EB4FL) >>> liveShift);
    }

    /**
     * Number of live stripes; for tests.
     *
     * @return a power of two, 1 without range caches
     */
    int liveStripes() {
        return live.length;
    }

    private void checkRequest(long size, long alignment) {
        if (size <= 0 || size % granule != 0 || size > end - start) {
            throw new InvalidArgumentException("IOVA size " + Hex.of(size) + " must be a positive multiple of "
                    + Hex.size(granule) + " no larger than the space " + Hex.range(start, end - start));
        }
        if (alignment < granule || Long.bitCount(alignment) != 1) {
            throw new InvalidArgumentException("IOVA alignment " + Hex.of(alignment)
                    + " must be a power of two of at least the granule " + Hex.size(granule));
        }
    }

    private void checkFixed(long iova, long size) {
        if (size <= 0 || size % granule != 0 || iova % granule != 0 || iova < start || iova > end - size) {
            throw new InvalidArgumentException("IOVA range " + Hex.range(iova, size) + " must be granule-aligned ("
                    + Hex.size(granule) + "), non-empty and inside " + Hex.range(start, end - start));
        }
    }

    /**
     * Number of ranges held in the range caches and depot; for tests.
     *
     * @return the count, 0 without range caches
     */
    synchronized int cachedRanges() {
        List<long[]> out = new ArrayList<>();
        if (caches != null) {
            caches.forEachCached((s, n) -> out.add(new long[] {s, n}));
        }
        return out.size();
    }

    /**
     * Checks every structural invariant of the free-range tree and the accounting against it,
     * counting cached ranges as neither free in the tree nor live, without draining the caches;
     * for tests, on a quiescent allocator.
     *
     * @throws IllegalStateException naming the first invariant found broken
     */
    synchronized void checkInvariants() {
        List<long[]> ranges = new ArrayList<>();
        free.check(ranges);
        long freeBytes = 0;
        for (int i = 0; i < ranges.size(); i++) {
            long[] r = ranges.get(i);
            if (r[0] < start || r[1] > end || r[0] >= r[1]) {
                throw new IllegalStateException(
                        "free range " + Hex.range(r[0], r[1] - r[0]) + " is empty or outside the space");
            }
            if (i > 0 && ranges.get(i - 1)[1] >= r[0]) {
                throw new IllegalStateException("free ranges overlap or touch without being merged at " + Hex.of(r[0]));
            }
            freeBytes += r[1] - r[0];
        }
        long reservedBytes = 0;
        for (long n : reserved.values()) {
            reservedBytes += n;
        }
        List<long[]> taken = new ArrayList<>();
        forEachLive((s, n) -> taken.add(new long[] {s, s + n, 0}));
        long allocatedBytes = allocatedBytes();
        long[] cachedBytes = {0};
        if (caches != null) {
            caches.forEachCached((s, n) -> {
                taken.add(new long[] {s, s + n, 1});
                cachedBytes[0] += n;
            });
        }
        if (freeBytes + allocatedBytes + reservedBytes + cachedBytes[0] != end - start) {
            throw new IllegalStateException("free " + Hex.of(freeBytes) + " + allocated " + Hex.of(allocatedBytes)
                    + " + reserved " + Hex.of(reservedBytes) + " + cached " + Hex.of(cachedBytes[0])
                    + " is not the space " + Hex.of(end - start));
        }
        reserved.forEach((s, n) -> taken.add(new long[] {s, s + n, 2}));
        taken.sort(Comparator.comparingLong(t -> t[0]));
        for (int i = 0; i < taken.size(); i++) {
            long[] t = taken.get(i);
            String what = t[2] == 0 ? "allocated " : t[2] == 1 ? "cached " : "reserved ";
            if (isFreeAnywhere(ranges, t[0], t[1] - t[0])) {
                throw new IllegalStateException(what + Hex.range(t[0], t[1] - t[0]) + " overlaps a free range");
            }
            if (i > 0 && taken.get(i - 1)[1] > t[0]) {
                throw new IllegalStateException(what + Hex.range(t[0], t[1] - t[0]) + " overlaps the range before it");
            }
        }
    }

    private static boolean isFreeAnywhere(List<long[]> free, long s, long n) {
        for (long[] r : free) {
            if (r[0] < s + n && s < r[1]) {
                return true;
            }
        }
        return false;
    }

    @Override
    public synchronized String toString() {
        return "IovaAllocator[" + Hex.range(start, end - start) + ", granule " + Hex.size(granule) + ", "
                + liveRanges() + " live, " + Hex.of(allocatedBytes()) + " allocated"
                + (caches == null ? "" : ", range caches on") + "]";
    }

    /** The written fields of a {@link LiveStripe}, laid out before its padding. */
    private static class LiveStripeFields {
        final LongLongMap ranges = new LongLongMap();
        long bytes;
    }

    /**
     * One stripe of the live allocations. Guarded by the allocator's lock when the allocator has
     * no range caches (one stripe), by its own monitor when it has. The padding (subclass fields
     * come after the superclass's) keeps two stripes' lock words and byte counts, allocated one
     * after the other, off a shared pair of cache lines, so threads on different stripes do not
     * slow each other down by false sharing.
     */
    @SuppressWarnings("unused")
    private static final class LiveStripe extends LiveStripeFields {
        long p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15;

        void add(long iova, long size) {
            ranges.put(iova, size);
            bytes += size;
        }

        /** Removes exactly a live allocation or throws, changing nothing. */
        void remove(long iova, long size) {
            long found = ranges.get(iova, -1);
            if (found != size) {
                throw new InvalidArgumentException("free of IOVA " + Hex.range(iova, size) + " refused: "
                        + (found < 0 ? "no allocation starts there" : "the allocation there is " + Hex.size(found))
                        + "; only exact live allocations can be freed");
            }
            ranges.remove(iova);
            bytes -= size;
        }
    }
}
