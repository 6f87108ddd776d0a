package org.dmashare.iova;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.internal.LongLongMap;
import org.dmashare.memory.FailureInjector;

/**
 * Hands out IOVA ranges of one domain's address space {@code [start, end)}, like Linux's
 * {@code drivers/iommu/iova.c}: the highest free range that fits below a limit, aligned as asked
 * (top-down first fit). Unlike iova.c's linear walk, free space is kept in a B-tree of free ranges
 * augmented with the largest gap of every subtree, so allocation and free are O(log n) however
 * many ranges are live, with a handful of short array scans per operation.
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

    /** Entries per tree node: a few cache lines of starts and ends, scanned in one go. */
    static final int DEFAULT_NODE_CAPACITY = 32;

    private final long start;
    private final long end;
    private final long granule;
    private final FailureInjector failures;
    /** Live allocations, start to size; primitive so allocate + free box and allocate nothing. */
    private final LongLongMap allocated = new LongLongMap();
    private final TreeMap<Long, Long> reserved = new TreeMap<>();
    private final int capacity;
    private final int minimum;
    private Node root;
    /** Levels in the tree; the leaves are at level {@code height - 1}. */
    private int height;
    private long allocatedBytes;
    /**
     * The last descent: {@code pathNode[l]} is the node at level l and {@code pathIdx[l]} the
     * entry taken there; {@code pathNode[height - 1]} is the leaf.
     */
    private final Node[] pathNode = new Node[64];
    private final int[] pathIdx = new int[64];
    /** The entry of the recorded leaf {@link #findHighest} found its range in. */
    private int foundIndex;

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
        this.capacity = nodeCapacity;
        this.minimum = Math.max(2, nodeCapacity / 4);
        this.root = new Node(nodeCapacity, true);
        place(root, 0, start, end, null);
        root.max = end - start;
        this.height = 1;
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
        long at = findHighest(size, alignment, Math.min(limit, end));
        if (at < 0) {
            throw new IovaSpaceExhaustedException("no free IOVA range of " + Hex.size(size) + " aligned to "
                    + Hex.size(alignment) + " below " + Hex.of(Math.min(limit, end)) + " in "
                    + Hex.range(start, end - start) + "; " + allocated.size() + " ranges live, "
                    + Hex.size(allocatedBytes) + " allocated, largest free gap " + Hex.of(maxGap()));
        }
        take(foundIndex, at, size);
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
        int i = locate(iova);
        if (!fitsIn(i, iova, size)) {
            throw new MappingConflictException("IOVA range " + Hex.range(iova, size)
                    + " is not free: it overlaps an allocated or reserved range");
        }
        take(i, iova, size);
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
        int i = locate(iova);
        if (!fitsIn(i, iova, size)) {
            throw new MappingConflictException("cannot reserve " + Hex.range(iova, size)
                    + ": it overlaps an allocated or reserved range");
        }
        take(i, iova, size);
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
        return findHighest(size, alignment, Math.min(limit, end));
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
        return fitsIn(locate(iova), iova, size);
    }

    /** Whether free range i of the recorded leaf, the floor of iova, holds all of the range. */
    private boolean fitsIn(int i, long iova, long size) {
        return i >= 0 && leaf().vals[i] >= iova + size;
    }

    // ---- B-tree of free ranges, keyed by start, augmented with the largest free length ----
    //
    // Every node holds up to `capacity` entries sorted by start. A leaf entry i is the free range
    // [keys[i], vals[i]); an inner entry i is the child kids[i], with keys[i] the exact lowest
    // start in that child's subtree and vals[i] the child's largest free length (`max`). Exact
    // lowest starts let a descent by key land in the one child that can hold the key's floor; the
    // lengths let a search skip every child too small for a request. All leaves are at the same
    // depth and every node but the root holds at least `minimum` entries, so a million free ranges
    // sit four or five levels deep in short arrays: a search reads a few cache lines per level
    // instead of one scattered node per level of a binary tree.

    private static final class Node {
        final long[] keys;
        final long[] vals;
        /** Children of an inner node; {@code null} in a leaf. */
        final Node[] kids;
        int count;
        /** Largest free length in this subtree. */
        long max;

        Node(int capacity, boolean leaf) {
            keys = new long[capacity];
            vals = new long[capacity];
            kids = leaf ? null : new Node[capacity];
        }

        boolean leaf() {
            return kids == null;
        }

        /** Free length entry i stands for: its range's length in a leaf, its child's max above. */
        long length(int i) {
            return kids == null ? vals[i] - keys[i] : vals[i];
        }

        long computeMax() {
            long m = 0;
            for (int i = 0; i < count; i++) {
                m = Math.max(m, length(i));
            }
            return m;
        }

        /** Keeps {@link #max} right after entry i's length went from {@code before} to its current one. */
        void lengthChanged(int i, long before) {
            long now = length(i);
            if (now >= max) {
                max = now;
            } else if (before == max) {
                max = computeMax();
            }
        }

        /** Index of the last entry whose key is at most {@code key}, or -1. */
        int floorIndex(long key) {
            int lo = 0;
            int hi = count - 1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                if (keys[mid] <= key) {
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            return hi;
        }

        void openGap(int at) {
            System.arraycopy(keys, at, keys, at + 1, count - at);
            System.arraycopy(vals, at, vals, at + 1, count - at);
            if (kids != null) {
                System.arraycopy(kids, at, kids, at + 1, count - at);
            }
            count++;
        }

        void closeGap(int at) {
            count--;
            System.arraycopy(keys, at + 1, keys, at, count - at);
            System.arraycopy(vals, at + 1, vals, at, count - at);
            if (kids != null) {
                System.arraycopy(kids, at + 1, kids, at, count - at);
                kids[count] = null;
            }
        }

        /** Moves entries [from, count) of this node to the front of {@code to}. */
        void moveTailToFront(int from, Node to) {
            int n = count - from;
            System.arraycopy(to.keys, 0, to.keys, n, to.count);
            System.arraycopy(to.vals, 0, to.vals, n, to.count);
            System.arraycopy(keys, from, to.keys, 0, n);
            System.arraycopy(vals, from, to.vals, 0, n);
            if (kids != null) {
                System.arraycopy(to.kids, 0, to.kids, n, to.count);
                System.arraycopy(kids, from, to.kids, 0, n);
                Arrays.fill(kids, from, count, null);
            }
            to.count += n;
            count = from;
        }

        /** Moves this node's first {@code n} entries to the end of {@code to}. */
        void moveHeadTo(int n, Node to) {
            System.arraycopy(keys, 0, to.keys, to.count, n);
            System.arraycopy(vals, 0, to.vals, to.count, n);
            if (kids != null) {
                System.arraycopy(kids, 0, to.kids, to.count, n);
            }
            to.count += n;
            count -= n;
            System.arraycopy(keys, n, keys, 0, count);
            System.arraycopy(vals, n, vals, 0, count);
            if (kids != null) {
                System.arraycopy(kids, n, kids, 0, count);
                Arrays.fill(kids, count, count + n, null);
            }
        }
    }

    private long maxGap() {
        return root.max;
    }

    /** Level of the leaves: the root is level 0. */
    private int leafLevel() {
        return height - 1;
    }

    private Node leaf() {
        return pathNode[height - 1];
    }

    /**
     * Descends to the leaf that holds the floor of {@code key}, recording the path.
     *
     * @return the floor's index in {@link #leaf()}, or -1 if no free range starts at or below key
     */
    private int locate(long key) {
        Node n = root;
        for (int level = 0; !n.leaf(); level++) {
            int i = Math.max(0, n.floorIndex(key));
            pathNode[level] = n;
            pathIdx[level] = i;
            n = n.kids[i];
        }
        pathNode[height - 1] = n;
        return n.floorIndex(key);
    }

    /**
     * Highest aligned fit ending at or below limit, or -1. On success the path to its leaf is
     * recorded and {@link #foundIndex} is its entry there.
     *
     * <p>A depth-first search from the right, iterative so the usual search (straight down the
     * right edge of the space) is one loop: it enters only children whose largest free length
     * could hold the size and whose lowest start is below the limit, and backs up a level only
     * when a child had lengths large enough but none of them aligned.
     */
    private long findHighest(long size, long alignment, long limit) {
        int level = 0;
        Node n = root;
        int i = n.floorIndex(limit - 1);
        while (true) {
            if (n.leaf()) {
                for (; i >= 0; i--) {
                    long s = n.keys[i];
                    long top = Math.min(n.vals[i], limit);
                    if (top - s >= size) {
                        long at = (top - size) & -alignment;
                        if (at >= s) {
                            pathNode[level] = n;
                            foundIndex = i;
                            return at;
                        }
                    }
                }
            } else {
                while (i >= 0 && n.vals[i] < size) {
                    i--;
                }
                if (i >= 0) {
                    pathNode[level] = n;
                    pathIdx[level] = i;
                    level++;
                    n = n.kids[i];
                    i = n.floorIndex(limit - 1);
                    continue;
                }
            }
            if (level == 0) {
                return -1;
            }
            level--;
            n = pathNode[level];
            i = pathIdx[level] - 1;
        }
    }

    /**
     * Carries a change of the node at {@code level} (its lowest start or its max) up the recorded
     * path, stopping where an ancestor already agrees.
     */
    private void propagate(int level) {
        for (int l = level - 1; l >= 0; l--) {
            Node parent = pathNode[l];
            int i = pathIdx[l];
            Node child = pathNode[l + 1];
            if (parent.keys[i] == child.keys[0] && parent.vals[i] == child.max) {
                return;
            }
            long before = parent.vals[i];
            parent.keys[i] = child.keys[0];
            parent.vals[i] = child.max;
            parent.lengthChanged(i, before);
        }
    }

    /** Moves the bounds of free range i of the recorded leaf to {@code [newStart, newEnd)}. */
    private void resize(int i, long newStart, long newEnd) {
        Node leaf = leaf();
        long before = leaf.length(i);
        leaf.keys[i] = newStart;
        leaf.vals[i] = newEnd;
        leaf.lengthChanged(i, before);
        propagate(leafLevel());
    }

    /**
     * Inserts an entry at index {@code at} of the node at {@code level} on the recorded path,
     * splitting full nodes up the path.
     */
    private void insert(int level, int at, long key, long val, Node kid) {
        Node n = pathNode[level];
        if (n.count < capacity) {
            place(n, at, key, val, kid);
            long len = n.length(at);
            if (len > n.max) {
                n.max = len;
            }
            propagate(level);
            return;
        }
        Node right = new Node(capacity, n.leaf());
        n.moveTailToFront(capacity / 2, right);
        if (at <= n.count) {
            place(n, at, key, val, kid);
        } else {
            place(right, at - n.count, key, val, kid);
        }
        n.max = n.computeMax();
        right.max = right.computeMax();
        if (level == 0) {
            Node top = new Node(capacity, false);
            place(top, 0, n.keys[0], n.max, n);
            place(top, 1, right.keys[0], right.max, right);
            top.max = Math.max(n.max, right.max);
            root = top;
            height++;
            return;
        }
        Node parent = pathNode[level - 1];
        int i = pathIdx[level - 1];
        parent.keys[i] = n.keys[0];
        parent.vals[i] = n.max;
        parent.max = parent.computeMax();
        insert(level - 1, i + 1, right.keys[0], right.max, right);
    }

    private static void place(Node n, int at, long key, long val, Node kid) {
        n.openGap(at);
        n.keys[at] = key;
        n.vals[at] = val;
        if (kid != null) {
            n.kids[at] = kid;
        }
    }

    /**
     * Removes entry {@code at} of the node at {@code level} on the recorded path, merging with or
     * borrowing from a sibling when the node falls below the minimum.
     */
    private void remove(int level, int at) {
        Node n = pathNode[level];
        long before = n.length(at);
        n.closeGap(at);
        if (before == n.max) {
            n.max = n.computeMax();
        }
        rebalance(level);
    }

    /**
     * The node at {@code level} on the recorded path has lost an entry and its max is right:
     * refills it from a sibling or merges the two if it fell below the minimum, collapses a root
     * left with one child, and carries the change up.
     */
    private void rebalance(int level) {
        Node n = pathNode[level];
        if (level == 0) {
            if (!n.leaf() && n.count == 1) {
                root = n.kids[0];
                height--;
            }
            return;
        }
        if (n.count >= minimum) {
            propagate(level);
            return;
        }
        Node parent = pathNode[level - 1];
        int i = pathIdx[level - 1];
        int li = i > 0 ? i - 1 : i;
        Node left = parent.kids[li];
        Node right = parent.kids[li + 1];
        if (left.count + right.count <= capacity) {
            right.moveHeadTo(right.count, left);
            left.max = Math.max(left.max, right.max);
            parent.closeGap(li + 1);
            parent.keys[li] = left.keys[0];
            parent.vals[li] = left.max;
            parent.max = parent.computeMax();
            rebalance(level - 1);
            return;
        }
        // Together they overfill one node: split the entries evenly, both then hold at least
        // capacity / 2, which is at least the minimum.
        int half = (left.count + right.count) / 2;
        if (left.count > half) {
            left.moveTailToFront(half, right);
        } else {
            right.moveHeadTo(half - left.count, left);
        }
        left.max = left.computeMax();
        right.max = right.computeMax();
        parent.keys[li] = left.keys[0];
        parent.vals[li] = left.max;
        parent.keys[li + 1] = right.keys[0];
        parent.vals[li + 1] = right.max;
        parent.max = parent.computeMax();
        propagate(level - 1);
    }

    /**
     * Removes {@code [at, at + size)}, which lies inside free range {@code i} of the recorded
     * leaf, from the free ranges.
     */
    private void take(int i, long at, long size) {
        Node leaf = leaf();
        long s = leaf.keys[i];
        long e = leaf.vals[i];
        if (s == at && e == at + size) {
            remove(leafLevel(), i);
        } else if (s == at) {
            resize(i, at + size, e);
        } else {
            resize(i, s, at);
            if (e != at + size) {
                insert(leafLevel(), i + 1, at + size, e, null);
            }
        }
    }

    /** Returns {@code [from, to)} to the free ranges, merging with free neighbours. */
    private void give(long from, long to) {
        int j = locate(from);
        Node leaf = leaf();
        boolean joinBefore = j >= 0 && leaf.vals[j] == from;
        // The free range after is the next entry of this leaf or, past its end, the lowest start
        // of the next subtree on the path; no free range starts inside the live [from, to).
        boolean afterHere = j + 1 < leaf.count;
        boolean joinAfter = (afterHere ? leaf.keys[j + 1] : startAfterLeaf()) == to;
        if (joinBefore && joinAfter) {
            if (afterHere) {
                long before = leaf.length(j);
                leaf.vals[j] = leaf.vals[j + 1];
                leaf.lengthChanged(j, before);
                remove(leafLevel(), j + 1);
            } else {
                int k = locate(to);
                long afterEnd = leaf().vals[k];
                remove(leafLevel(), k);
                int b = locate(from);
                resize(b, leaf().keys[b], afterEnd);
            }
        } else if (joinBefore) {
            resize(j, leaf.keys[j], to);
        } else if (joinAfter) {
            int k = afterHere ? j + 1 : locate(to);
            resize(k, from, leaf().vals[k]);
        } else {
            insert(leafLevel(), j + 1, from, to, null);
        }
    }

    /** Lowest start beyond the recorded leaf, or -1 if it is the last leaf. */
    private long startAfterLeaf() {
        for (int l = leafLevel() - 1; l >= 0; l--) {
            if (pathIdx[l] + 1 < pathNode[l].count) {
                return pathNode[l].keys[pathIdx[l] + 1];
            }
        }
        return -1;
    }

    /**
     * Checks every structural invariant of the free-range tree and the accounting against it;
     * for tests.
     *
     * @throws IllegalStateException naming the first invariant found broken
     */
    synchronized void checkInvariants() {
        List<long[]> free = new ArrayList<>();
        checkNode(root, 0, free);
        long freeBytes = 0;
        for (int i = 0; i < free.size(); i++) {
            long[] r = free.get(i);
            if (r[0] < start || r[1] > end || r[0] >= r[1]) {
                throw new IllegalStateException("free range " + Hex.range(r[0], r[1] - r[0]) + " is empty or outside the space");
            }
            if (i > 0 && free.get(i - 1)[1] >= r[0]) {
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
            if (isFreeAnywhere(free, s, n)) {
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

    private void checkNode(Node n, int level, List<long[]> out) {
        String where = "node at level " + level + " (height " + height + ")";
        if (n.leaf() != (level == height - 1)) {
            throw new IllegalStateException(where + ": leaves must all be at the last level");
        }
        if (n.count > capacity || (n != root && n.count < minimum) || (n == root && !n.leaf() && n.count < 2)) {
            throw new IllegalStateException(where + ": holds " + n.count + " entries, outside [" + minimum + ", " + capacity + "]");
        }
        for (int i = 1; i < n.count; i++) {
            if (n.keys[i - 1] >= n.keys[i]) {
                throw new IllegalStateException(where + ": keys out of order at " + i);
            }
        }
        if (n.max != n.computeMax()) {
            throw new IllegalStateException(where + ": max " + Hex.of(n.max) + " but entries say " + Hex.of(n.computeMax()));
        }
        for (int i = 0; i < n.count; i++) {
            if (n.leaf()) {
                out.add(new long[] {n.keys[i], n.vals[i]});
            } else {
                Node kid = n.kids[i];
                if (kid.count == 0 || n.keys[i] != kid.keys[0] || n.vals[i] != kid.max) {
                    throw new IllegalStateException(where + ": entry " + i + " does not match its child's lowest start and max");
                }
                checkNode(kid, level + 1, out);
            }
        }
        if (!n.leaf()) {
            for (int i = n.count; i < n.kids.length; i++) {
                if (n.kids[i] != null) {
                    throw new IllegalStateException(where + ": holds a stale child reference at " + i);
                }
            }
        }
    }

    @Override
    public synchronized String toString() {
        return "IovaAllocator[" + Hex.range(start, end - start) + ", granule " + Hex.size(granule) + ", "
                + allocated.size() + " live, " + Hex.of(allocatedBytes) + " allocated]";
    }
}
