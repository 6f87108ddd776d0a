package org.dmashare.iova;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.ThreadLocalRandom;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.internal.LongLongMap;
import org.dmashare.memory.FailureInjector;

/**
 * Hands out IOVA ranges of one domain's address space {@code [start, end)}, like Linux's
 * {@code drivers/iommu/iova.c}: the highest free range that fits below a limit, aligned as asked
 * (top-down first fit). Unlike iova.c's linear walk, free space is kept in a balanced tree
 * augmented with the largest gap of every subtree, so allocation and free are O(log n) however
 * many ranges are live.
 *
 * <p>All sizes, addresses and alignments are multiples of the granule. Ranges can be reserved
 * (never handed out, never freed). Freeing anything but exactly a live allocation is refused.
 * Thread-safe: every method is atomic.
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

    private static final class Node {
        long start;
        long end;
        long maxLen;
        int priority;
        Node left;
        Node right;
    }

    private final long start;
    private final long end;
    private final long granule;
    private final FailureInjector failures;
    /** Live allocations, start to size; primitive so allocate + free box and allocate nothing. */
    private final LongLongMap allocated = new LongLongMap();
    private final TreeMap<Long, Long> reserved = new TreeMap<>();
    private Node root;
    private long allocatedBytes;
    private final Node[] path = new Node[512];
    /** Treap priorities: xorshift, seeded per allocator; cheaper than a shared RNG per node. */
    private int seed = ThreadLocalRandom.current().nextInt() | 1;
    /**
     * The last node deleted from the tree, reused by the next insert: an allocate that splits a
     * free range and the free that merges it back then allocate nothing.
     */
    private Node spare;
    /**
     * The free node {@link #findHighest} found the range in and its depth; {@link #path} then
     * holds its ancestors, so {@link #take} neither searches for it nor walks down again.
     */
    private Node found;
    private int foundDepth;

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
        if (granule <= 0 || Long.bitCount(granule) != 1) {
            throw new InvalidArgumentException("IOVA granule must be a power of two, got " + Hex.of(granule));
        }
        if (start < 0 || end <= start || start % granule != 0 || end % granule != 0) {
            throw new InvalidArgumentException("IOVA space " + Hex.of(start) + ".." + Hex.of(end)
                    + " must be non-empty and aligned to the granule " + Hex.size(granule));
        }
        this.start = start;
        this.end = end;
        this.granule = granule;
        this.failures = failures;
        this.root = newNode(start, end);
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
        long at = findHighest(root, size, alignment, Math.min(limit, end), 0);
        if (at < 0) {
            throw new IovaSpaceExhaustedException("no free IOVA range of " + Hex.size(size) + " aligned to "
                    + Hex.size(alignment) + " below " + Hex.of(Math.min(limit, end)) + " in "
                    + Hex.range(start, end - start) + "; " + allocated.size() + " ranges live, "
                    + Hex.size(allocatedBytes) + " allocated, largest free gap " + Hex.of(maxGap()));
        }
        take(found, foundDepth, at, size);
        found = null;
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
        if (!isFreeLocked(iova, size)) {
            throw new MappingConflictException("IOVA range " + Hex.range(iova, size)
                    + " is not free: it overlaps an allocated or reserved range");
        }
        take(floor(iova), -1, iova, size);
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
        if (!isFreeLocked(iova, size)) {
            throw new MappingConflictException("cannot reserve " + Hex.range(iova, size)
                    + ": it overlaps an allocated or reserved range");
        }
        take(floor(iova), -1, iova, size);
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
        give(iova, iova + size);
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
        long at = findHighest(root, size, alignment, Math.min(limit, end), 0);
        found = null;
        return at;
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
        Node n = floor(iova);
        return n != null && n.end >= iova + size;
    }

    private long maxGap() {
        return root == null ? 0 : root.maxLen;
    }

    // ---- augmented treap over free ranges, keyed by start ----

    private static long maxLen(Node n) {
        return n == null ? 0 : n.maxLen;
    }

    private static void update(Node n) {
        n.maxLen = Math.max(n.end - n.start, Math.max(maxLen(n.left), maxLen(n.right)));
    }

    /**
     * Highest aligned fit ending at or below limit, or -1; visits only subtrees that could fit.
     * Records the recursion path in {@link #path} so the hit's ancestors are known.
     */
    private long findHighest(Node n, long size, long alignment, long limit, int depth) {
        if (n == null || n.maxLen < size) {
            return -1;
        }
        path[depth] = n;
        if (n.start < limit) {
            long r = findHighest(n.right, size, alignment, limit, depth + 1);
            if (r >= 0) {
                return r;
            }
            long top = Math.min(n.end, limit);
            if (top - n.start >= size) {
                long at = (top - size) & -alignment;
                if (at >= n.start) {
                    found = n;
                    foundDepth = depth;
                    return at;
                }
            }
        }
        return findHighest(n.left, size, alignment, limit, depth + 1);
    }

    private Node floor(long key) {
        Node n = root;
        Node best = null;
        while (n != null) {
            if (n.start <= key) {
                best = n;
                n = n.right;
            } else {
                n = n.left;
            }
        }
        return best;
    }

    /** Recomputes maxLen from the root down to the node whose start is {@code key}, bottom-up. */
    private void updatePath(long key) {
        int depth = 0;
        Node n = root;
        while (n != null) {
            path[depth++] = n;
            if (n.start == key) {
                break;
            }
            n = key < n.start ? n.left : n.right;
        }
        for (int i = depth - 1; i >= 0; i--) {
            update(path[i]);
            path[i] = null;
        }
    }

    /** Recomputes maxLen of {@code path[depth]} and its recorded ancestors, bottom-up. */
    private void updateRecorded(int depth) {
        for (int i = depth; i >= 0; i--) {
            update(path[i]);
            path[i] = null;
        }
    }

    /**
     * Removes {@code [at, at + size)}, which lies inside the free node {@code n}, from the free
     * tree. {@code depth} is n's depth with its ancestors in {@link #path}, or -1 if not recorded.
     */
    private void take(Node n, int depth, long at, long size) {
        long e = n.end;
        long s = n.start;
        if (s == at && e == at + size) {
            root = delete(root, s);
        } else if (s == at) {
            n.start = at + size;
            if (depth >= 0) {
                updateRecorded(depth);
            } else {
                updatePath(n.start);
            }
        } else {
            n.end = at;
            if (depth >= 0) {
                updateRecorded(depth);
            } else {
                updatePath(s);
            }
            if (e != at + size) {
                root = insert(root, newNode(at + size, e));
            }
        }
    }

    /** Returns {@code [from, to)} to the free tree, merging with free neighbours. */
    private void give(long from, long to) {
        // One walk finds both neighbours and records their ancestors: the free node before is the
        // floor of from, and the one after is the first start above from, which is at or above
        // to because no free range starts inside the live allocation [from, to).
        Node before = null;
        Node after = null;
        int beforeDepth = -1;
        int afterDepth = -1;
        int depth = 0;
        for (Node n = root; n != null; depth++) {
            path[depth] = n;
            if (n.start <= from) {
                before = n;
                beforeDepth = depth;
                n = n.right;
            } else {
                after = n;
                afterDepth = depth;
                n = n.left;
            }
        }
        boolean joinBefore = before != null && before.end == from;
        boolean joinAfter = after != null && after.start == to;
        if (joinBefore && joinAfter) {
            long afterEnd = after.end;
            root = delete(root, after.start);
            before.end = afterEnd;
            updatePath(before.start);
        } else if (joinBefore) {
            before.end = to;
            updateRecorded(beforeDepth);
        } else if (joinAfter) {
            after.start = from;
            updateRecorded(afterDepth);
        } else {
            root = insert(root, newNode(from, to));
        }
    }

    /** A detached node for {@code [s, e)} with a fresh priority, the spare one if there is one. */
    private Node newNode(long s, long e) {
        Node n = spare;
        spare = null;
        if (n == null) {
            n = new Node();
        }
        n.start = s;
        n.end = e;
        n.maxLen = e - s;
        // xorshift32: a fresh random priority keeps the treap balanced in expectation.
        int x = seed;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        seed = x;
        n.priority = x;
        return n;
    }

    private static Node insert(Node t, Node n) {
        if (t == null) {
            return n;
        }
        if (n.start < t.start) {
            t.left = insert(t.left, n);
            if (t.left.priority > t.priority) {
                t = rotateRight(t);
            }
        } else {
            t.right = insert(t.right, n);
            if (t.right.priority > t.priority) {
                t = rotateLeft(t);
            }
        }
        update(t);
        return t;
    }

    private Node delete(Node t, long key) {
        if (t == null) {
            return null;
        }
        if (key < t.start) {
            t.left = delete(t.left, key);
        } else if (key > t.start) {
            t.right = delete(t.right, key);
        } else {
            Node merged = merge(t.left, t.right);
            t.left = null;
            t.right = null;
            spare = t;
            return merged;
        }
        update(t);
        return t;
    }

    private static Node merge(Node a, Node b) {
        if (a == null) {
            return b;
        }
        if (b == null) {
            return a;
        }
        if (a.priority > b.priority) {
            a.right = merge(a.right, b);
            update(a);
            return a;
        }
        b.left = merge(a, b.left);
        update(b);
        return b;
    }

    private static Node rotateRight(Node t) {
        Node l = t.left;
        t.left = l.right;
        l.right = t;
        update(t);
        update(l);
        return l;
    }

    private static Node rotateLeft(Node t) {
        Node r = t.right;
        t.right = r.left;
        r.left = t;
        update(t);
        update(r);
        return r;
    }

    @Override
    public synchronized String toString() {
        return "IovaAllocator[" + Hex.range(start, end - start) + ", granule " + Hex.size(granule) + ", "
                + allocated.size() + " live, " + Hex.of(allocatedBytes) + " allocated]";
    }
}
