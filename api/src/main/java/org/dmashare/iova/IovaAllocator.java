package org.dmashare.iova;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
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
 * <p>Thread-safe: every method that reads or changes the ranges holds this object's monitor for
 * the whole operation, so each is atomic. It is a leaf lock: nothing else is locked while it is
 * held (see the package documentation for the order callers nest it in).
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
    public record Snapshot(List<Range> allocated, List<Range> reserved) {
    }

    /** Entries per tree node: a few cache lines of starts and ends, scanned in one go. */
    static final int DEFAULT_NODE_CAPACITY = 32;

    private final long start;
    private final long end;
    private final long granule;
    private final FailureInjector failures;
    /** Live allocations, start to size; primitive so allocate + free box and allocate nothing. */
    @GuardedBy("this")
    private final LongLongMap allocated = new LongLongMap();
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
    @GuardedBy("this")
    private long allocatedBytes;

    /**
     * Creates an allocator for {@code [start, end)}, all free.
     *
     * @param start lowest IOVA handed out; a multiple of {@code granule}
     * @param end one past the highest IOVA; a multiple of {@code granule}, above {@code start}
     * @param granule the unit of every size and address: a power of two
     * @param failures injector consulted before each allocation, or {@code null} for none
     * @throws InvalidArgumentException if the bounds are misaligned or empty
     */
    public IovaAllocator(long start, long end, long granule, FailureInjector failures) {
        this(start, end, granule, failures, DEFAULT_NODE_CAPACITY);
    }

    /** As the public constructor, with a chosen node capacity so tests can build deep trees. */
    IovaAllocator(long start, long end, long granule, FailureInjector failures, int nodeCapacity) {
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
        this.free = new FreeRangeTree(start, end, nodeCapacity);
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
    public synchronized long allocate(long size, long alignment, long limit) {
        checkRequest(size, alignment);
        if (failures != null) {
            failures.check(FailureInjector.Point.IOVA_ALLOCATION);
        }
        FreeRangeTree.Cursor c = cursor;
        long at = free.findHighest(c, size, alignment, Math.min(limit, end));
        if (at < 0) {
            throw new IovaSpaceExhaustedException("no free IOVA range of " + Hex.size(size) + " aligned to "
                    + Hex.size(alignment) + " below " + Hex.of(Math.min(limit, end)) + " in "
                    + Hex.range(start, end - start) + "; " + allocated.size() + " ranges live, "
                    + Hex.size(allocatedBytes) + " allocated, largest free gap " + Hex.of(free.maxGap()));
        }
        free.take(c, c.found, at, size);
        allocated.put(at, size);
        allocatedBytes += size;
        return at;
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
        if (failures != null) {
            failures.check(FailureInjector.Point.IOVA_ALLOCATION);
        }
        FreeRangeTree.Cursor c = cursor;
        int i = free.locate(c, iova);
        if (!free.fitsIn(c, i, iova, size)) {
            throw new MappingConflictException("IOVA range " + Hex.range(iova, size)
                    + " is not free: it overlaps an allocated or reserved range");
        }
        free.take(c, i, iova, size);
        allocated.put(iova, size);
        allocatedBytes += size;
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
        FreeRangeTree.Cursor c = cursor;
        int i = free.locate(c, iova);
        if (!free.fitsIn(c, i, iova, size)) {
            throw new MappingConflictException("cannot reserve " + Hex.range(iova, size)
                    + ": it overlaps an allocated or reserved range");
        }
        free.take(c, i, iova, size);
        reserved.put(iova, size);
    }

    /**
     * Frees a live allocation.
     *
     * @param iova the address an allocation returned
     * @param size the size it was allocated with
     * @throws InvalidArgumentException if {@code [iova, iova + size)} is not exactly a live
     *     allocation; nothing is changed
     */
    public synchronized void free(long iova, long size) {
        long live = allocated.get(iova, -1);
        if (live != size) {
            throw new InvalidArgumentException("free of IOVA " + Hex.range(iova, size) + " refused: "
                    + (live < 0 ? "no allocation starts there" : "the allocation there is " + Hex.size(live))
                    + "; only exact live allocations can be freed");
        }
        allocated.remove(iova);
        allocatedBytes -= size;
        free.give(cursor, iova, iova + size);
    }

    /**
     * Finds, without allocating, the highest free range of {@code size} bytes aligned to
     * {@code alignment} ending at or below {@code limit}.
     *
     * @param size bytes, a positive multiple of the granule
     * @param alignment a power of two, at least the granule
     * @param limit the range must end at or below this IOVA
     * @return the first IOVA of that range, or -1 if there is none
     * @throws InvalidArgumentException if the size or alignment is invalid
     */
    public synchronized long findFree(long size, long alignment, long limit) {
        checkRequest(size, alignment);
        return free.findHighest(free.readCursor(), size, alignment, Math.min(limit, end));
    }

    /**
     * Whether every IOVA of {@code [iova, iova + size)} is inside the space and neither allocated
     * nor reserved.
     *
     * @param iova first IOVA
     * @param size bytes
     * @return true if the whole range is free
     */
    public synchronized boolean isFree(long iova, long size) {
        return size > 0 && iova >= start && iova <= end - size && isFreeLocked(iova, size);
    }

    /**
     * Number of live allocations (reserved ranges not counted).
     *
     * @return the count
     */
    public synchronized int liveRanges() {
        return allocated.size();
    }

    /**
     * Bytes in live allocations.
     *
     * @return the sum of their sizes
     */
    public synchronized long allocatedBytes() {
        return allocatedBytes;
    }

    /**
     * The complete state, for equality checks.
     *
     * @return allocations and reservations sorted by address
     */
    public synchronized Snapshot snapshot() {
        List<Range> a = new ArrayList<>(allocated.size());
        allocated.forEach((s, n) -> a.add(new Range(s, n)));
        a.sort(Comparator.comparingLong(Range::start));
        List<Range> r = new ArrayList<>();
        reserved.forEach((s, n) -> r.add(new Range(s, n)));
        return new Snapshot(List.copyOf(a), List.copyOf(r));
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

    private boolean isFreeLocked(long iova, long size) {
        FreeRangeTree.Cursor c = free.readCursor();
        return free.fitsIn(c, free.locate(c, iova), iova, size);
    }

    /**
     * Checks every structural invariant of the free-range tree and the accounting against it;
     * for tests.
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
                throw new IllegalStateException("free range " + Hex.range(r[0], r[1] - r[0]) + " is empty or outside the space");
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
        if (freeBytes + allocatedBytes + reservedBytes != end - start) {
            throw new IllegalStateException("free " + Hex.of(freeBytes) + " + allocated " + Hex.of(allocatedBytes)
                    + " + reserved " + Hex.of(reservedBytes) + " is not the space " + Hex.of(end - start));
        }
        allocated.forEach((s, n) -> {
            if (isFreeAnywhere(ranges, s, n)) {
                throw new IllegalStateException("allocated " + Hex.range(s, n) + " overlaps a free range");
            }
        });
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
                + allocated.size() + " live, " + Hex.of(allocatedBytes) + " allocated]";
    }
}
