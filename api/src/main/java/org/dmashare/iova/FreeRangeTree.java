package org.dmashare.iova;

import java.util.Arrays;
import java.util.List;
import org.dmashare.Hex;

/**
 * The free ranges of one {@link IovaAllocator}: a B-tree keyed by start, augmented with the
 * largest free length of every subtree, so a top-down aligned first fit, a fixed-range check and
 * a free with neighbour merging are each O(log n).
 *
 * <p>Every node holds up to {@code capacity} entries sorted by start. A leaf entry i is the free
 * range {@code [keys[i], vals[i])}; an inner entry i is the child {@code kids[i]}, with
 * {@code keys[i]} the exact lowest start in that child's subtree and {@code vals[i]} the child's
 * largest free length ({@code max}). Exact lowest starts let a descent by key land in the one
 * child that can hold the key's floor; the lengths let a search skip every child too small for a
 * request. All leaves are at the same depth and every node but the root holds at least
 * {@code minimum} entries, so a million free ranges sit four or five levels deep in short arrays:
 * a search reads a few cache lines per level instead of one scattered node per level of a binary
 * tree.
 *
 * <p>The tree keeps no scratch of its own: a descent records its path in a {@link Cursor} the
 * caller passes in, and the calls that finish an operation take the same cursor back
 * ({@link #locate} then {@link #take}, or {@link #findHighest} then {@link #take}); a cursor
 * holds nothing between operations. Reads ({@link #findHighest},
 * {@link #locate}, {@link #fitsIn}, {@link #maxGap}) do not write the tree; writes
 * ({@link #take}, {@link #give}) must not run beside any other call. Not thread-safe: the owning
 * {@link IovaAllocator} calls it with its lock held.
 */
final class FreeRangeTree {

    /**
     * The path of one descent, owned by the call that made it: {@code node[l]} is the node at
     * level l and {@code idx[l]} the entry taken there; {@code node[height - 1]} is the leaf.
     * Valid until the tree is changed by anything but the operation it was made for.
     */
    static final class Cursor {
        final Node[] node;
        final int[] idx;
        /** The entry of the leaf on the path that {@link #findHighest} found its range in. */
        int found;

        Cursor(int depth) {
            node = new Node[depth];
            idx = new int[depth];
        }
    }

    private final int capacity;
    private final int minimum;
    private Node root;
    /** Levels in the tree; the leaves are at level {@code height - 1}. */
    private int height;

    /**
     * A tree holding the one free range {@code [start, end)}.
     *
     * @param capacity entries per node, at least 4 (checked by the allocator)
     */
    FreeRangeTree(long start, long end, int capacity) {
        this.capacity = capacity;
        this.minimum = Math.max(2, capacity / 4);
        this.root = new Node(capacity, true);
        place(root, 0, start, end, null);
        root.max = end - start;
        this.height = 1;
    }

    /**
     * Deepest tree a cursor can follow: every node but the root holds at least two entries, so
     * 64 levels would take more than 2^62 free ranges.
     */
    static final int MAX_DEPTH = 64;

    /**
     * A cursor deep enough for any tree.
     *
     * @return a new cursor
     */
    static Cursor newCursor() {
        return new Cursor(MAX_DEPTH);
    }

    /**
     * A cursor just deep enough for one read of the tree as it is now ({@link #findHighest},
     * {@link #locate}, {@link #fitsIn}); a write may add a level, so writers use
     * {@link #newCursor()}.
     *
     * @return a new cursor
     */
    Cursor readCursor() {
        return new Cursor(height);
    }

    /** The largest free length anywhere. */
    long maxGap() {
        return root.max;
    }

    /** Level of the leaves: the root is level 0. */
    private int leafLevel() {
        return height - 1;
    }

    private Node leaf(Cursor c) {
        return c.node[height - 1];
    }

    /** Whether free range i of the cursor's leaf, the floor of iova, holds all of the range. */
    boolean fitsIn(Cursor c, int i, long iova, long size) {
        return i >= 0 && leaf(c).vals[i] >= iova + size;
    }

    /**
     * Descends to the leaf that holds the floor of {@code key}, recording the path in {@code c}.
     *
     * @return the floor's index in the cursor's leaf, or -1 if no free range starts at or below key
     */
    int locate(Cursor c, long key) {
        Node n = root;
        for (int level = 0; !n.leaf(); level++) {
            int i = Math.max(0, n.floorIndex(key));
            c.node[level] = n;
            c.idx[level] = i;
            n = n.kids[i];
        }
        c.node[height - 1] = n;
        return n.floorIndex(key);
    }

    /**
     * Highest aligned fit ending at or below limit, or -1. On success the path to its leaf is
     * recorded in {@code c} and {@link Cursor#found} is its entry there.
     *
     * <p>A depth-first search from the right, iterative so the usual search (straight down the
     * right edge of the space) is one loop: it enters only children whose largest free length
     * could hold the size and whose lowest start is below the limit, and backs up a level only
     * when a child had lengths large enough but none of them aligned.
     */
    long findHighest(Cursor c, long size, long alignment, long limit) {
        Node[] pathNode = c.node;
        int[] pathIdx = c.idx;
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
                            c.found = i;
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
     * Removes {@code [at, at + size)}, which lies inside free range {@code i} of the cursor's
     * leaf, from the free ranges.
     */
    void take(Cursor c, int i, long at, long size) {
        Node leaf = leaf(c);
        long s = leaf.keys[i];
        long e = leaf.vals[i];
        if (s == at && e == at + size) {
            remove(c, leafLevel(), i);
        } else if (s == at) {
            resize(c, i, at + size, e);
        } else {
            resize(c, i, s, at);
            if (e != at + size) {
                insert(c, leafLevel(), i + 1, at + size, e, null);
            }
        }
    }

    /**
     * Returns {@code [from, to)}, which no free range overlaps, to the free ranges, merging with
     * free neighbours; {@code c} is overwritten.
     */
    void give(Cursor c, long from, long to) {
        int j = locate(c, from);
        Node leaf = leaf(c);
        boolean joinBefore = j >= 0 && leaf.vals[j] == from;
        // The free range after is the next entry of this leaf or, past its end, the lowest start
        // of the next subtree on the path; no free range starts inside the live [from, to).
        boolean afterHere = j + 1 < leaf.count;
        boolean joinAfter = (afterHere ? leaf.keys[j + 1] : startAfterLeaf(c)) == to;
        if (joinBefore && joinAfter) {
            if (afterHere) {
                long before = leaf.length(j);
                leaf.vals[j] = leaf.vals[j + 1];
                leaf.lengthChanged(j, before);
                remove(c, leafLevel(), j + 1);
            } else {
                int k = locate(c, to);
                long afterEnd = leaf(c).vals[k];
                remove(c, leafLevel(), k);
                int b = locate(c, from);
                resize(c, b, leaf(c).keys[b], afterEnd);
            }
        } else if (joinBefore) {
            resize(c, j, leaf.keys[j], to);
        } else if (joinAfter) {
            int k = afterHere ? j + 1 : locate(c, to);
            resize(c, k, from, leaf(c).vals[k]);
        } else {
            insert(c, leafLevel(), j + 1, from, to, null);
        }
    }

    /** Lowest start beyond the cursor's leaf, or -1 if it is the last leaf. */
    private long startAfterLeaf(Cursor c) {
        for (int l = leafLevel() - 1; l >= 0; l--) {
            if (c.idx[l] + 1 < c.node[l].count) {
                return c.node[l].keys[c.idx[l] + 1];
            }
        }
        return -1;
    }

    /**
     * Carries a change of the node at {@code level} (its lowest start or its max) up the path,
     * stopping where an ancestor already agrees.
     */
    private static void propagate(Cursor c, int level) {
        for (int l = level - 1; l >= 0; l--) {
            Node parent = c.node[l];
            int i = c.idx[l];
            Node child = c.node[l + 1];
            if (parent.keys[i] == child.keys[0] && parent.vals[i] == child.max) {
                return;
            }
            long before = parent.vals[i];
            parent.keys[i] = child.keys[0];
            parent.vals[i] = child.max;
            parent.lengthChanged(i, before);
        }
    }

    /** Moves the bounds of free range i of the cursor's leaf to {@code [newStart, newEnd)}. */
    private void resize(Cursor c, int i, long newStart, long newEnd) {
        Node leaf = leaf(c);
        long before = leaf.length(i);
        leaf.keys[i] = newStart;
        leaf.vals[i] = newEnd;
        leaf.lengthChanged(i, before);
        propagate(c, leafLevel());
    }

    /**
     * Inserts an entry at index {@code at} of the node at {@code level} on the path, splitting
     * full nodes up the path.
     */
    private void insert(Cursor c, int level, int at, long key, long val, Node kid) {
        Node n = c.node[level];
        if (n.count < capacity) {
            place(n, at, key, val, kid);
            long len = n.length(at);
            if (len > n.max) {
                n.max = len;
            }
            propagate(c, level);
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
        Node parent = c.node[level - 1];
        int i = c.idx[level - 1];
        parent.keys[i] = n.keys[0];
        parent.vals[i] = n.max;
        parent.max = parent.computeMax();
        insert(c, level - 1, i + 1, right.keys[0], right.max, right);
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
     * Removes entry {@code at} of the node at {@code level} on the path, merging with or
     * borrowing from a sibling when the node falls below the minimum.
     */
    private void remove(Cursor c, int level, int at) {
        Node n = c.node[level];
        long before = n.length(at);
        n.closeGap(at);
        if (before == n.max) {
            n.max = n.computeMax();
        }
        rebalance(c, level);
    }

    /**
     * The node at {@code level} on the path has lost an entry and its max is right: refills it
     * from a sibling or merges the two if it fell below the minimum, collapses a root left with
     * one child, and carries the change up.
     */
    private void rebalance(Cursor c, int level) {
        Node n = c.node[level];
        if (level == 0) {
            if (!n.leaf() && n.count == 1) {
                root = n.kids[0];
                height--;
            }
            return;
        }
        if (n.count >= minimum) {
            propagate(c, level);
            return;
        }
        Node parent = c.node[level - 1];
        int i = c.idx[level - 1];
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
            rebalance(c, level - 1);
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
        propagate(c, level - 1);
    }

    /**
     * Checks every structural invariant of the tree and lists its free ranges in order; for
     * tests.
     *
     * @param out receives each free range as {start, end}
     * @throws IllegalStateException naming the first invariant found broken
     */
    void check(List<long[]> out) {
        checkNode(root, 0, out);
    }

    private void checkNode(Node n, int level, List<long[]> out) {
        String where = "node at level " + level + " (height " + height + ")";
        if (n.leaf() != (level == height - 1)) {
            throw new IllegalStateException(where + ": leaves must all be at the last level");
        }
        if (n.count > capacity || (n != root && n.count < minimum) || (n == root && !n.leaf() && n.count < 2)) {
            throw new IllegalStateException(
                    where + ": holds " + n.count + " entries, outside [" + minimum + ", " + capacity + "]");
        }
        for (int i = 1; i < n.count; i++) {
            if (n.keys[i - 1] >= n.keys[i]) {
                throw new IllegalStateException(where + ": keys out of order at " + i);
            }
        }
        if (n.max != n.computeMax()) {
            throw new IllegalStateException(
                    where + ": max " + Hex.of(n.max) + " but entries say " + Hex.of(n.computeMax()));
        }
        for (int i = 0; i < n.count; i++) {
            if (n.leaf()) {
                out.add(new long[] {n.keys[i], n.vals[i]});
            } else {
                Node kid = n.kids[i];
                if (kid.count == 0 || n.keys[i] != kid.keys[0] || n.vals[i] != kid.max) {
                    throw new IllegalStateException(
                            where + ": entry " + i + " does not match its child's lowest start and max");
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
}
