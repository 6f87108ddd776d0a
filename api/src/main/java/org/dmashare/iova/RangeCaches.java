package org.dmashare.iova;

import java.util.ArrayDeque;
import org.dmashare.internal.CpuSlots;
import org.dmashare.internal.GuardedBy;

/**
 * Caches of recently freed IOVA ranges for an {@link IovaAllocator}, after Linux's IOVA rcache
 * (Bonwick and Adams' magazines): ranges of {@code 2^c} granules for {@code c < CLASSES} are kept
 * by size class in per-stripe magazines, each stripe standing for a CPU (a thread uses the stripe
 * its {@link CpuSlots} number selects), with a bounded depot of full magazines shared by all stripes.
 *
 * <p>Each stripe has, per class, a loaded and a previous magazine of {@link #MAGAZINE} ranges. A
 * free pushes onto the loaded magazine, swapping in the previous one when the loaded one is full
 * and the previous one is not; when both are full, the loaded one goes to the depot (or, when the
 * depot holds {@link #DEPOT} magazines of the class, back to the tree) under the allocator lock.
 * An allocation takes the most recently freed range of its class in the stripe that is aligned as
 * asked and ends at or below the limit (a cached range only serves a request it satisfies); when
 * the stripe's magazines of the class are empty it takes a full magazine from the depot under the
 * allocator lock. So at most {@code (2 × stripes + DEPOT) × CLASSES × MAGAZINE} ranges are cached,
 * and in a steady alternation of allocations and frees all but about one in {@code MAGAZINE}
 * operations touch only the stripe's own lock.
 *
 * <p>Cached ranges are taken in the allocator's tree and counted nowhere else; the allocator
 * reports them as free and drains them back into the tree ({@link #drainInto}) whenever it needs
 * the exact free space.
 *
 * <p>Locks: each stripe's monitor guards its magazines; the depot is guarded by the allocator's
 * lock. Order: allocator lock, then a stripe lock; a stripe lock is a leaf.
 */
final class RangeCaches {

    /** Sizes cached: 1, 2, 4, ... 32 granules, as Linux's {@code IOVA_RANGE_CACHE_MAX_SIZE}. */
    static final int CLASSES = 6;
    /** Ranges per magazine (Linux uses 127; fewer here bounds what idle stripes hold). */
    static final int MAGAZINE = 64;
    /** Full magazines per class the depot keeps before returning magazines to the tree. */
    static final int DEPOT = 16;

    /** Receives a range leaving the caches. */
    interface Sink {
        /**
         * Takes one range.
         *
         * @param iova first IOVA
         * @param size bytes
         */
        void accept(long iova, long size);
    }

    private final int granuleShift;
    private final Stripe[] stripes;

    @GuardedBy("the allocator")
    private final ArrayDeque<Magazine>[] depot;

    @SuppressWarnings("unchecked")
    RangeCaches(long granule) {
        this.granuleShift = Long.numberOfTrailingZeros(granule);
        int n = CpuSlots.stripes();
        stripes = new Stripe[n];
        for (int i = 0; i < n; i++) {
            stripes[i] = new Stripe();
        }
        depot = new ArrayDeque[CLASSES];
        for (int c = 0; c < CLASSES; c++) {
            depot[c] = new ArrayDeque<>();
        }
    }

    /** Number of stripes, a power of two. */
    int stripes() {
        return stripes.length;
    }

    /** The size class of {@code size}, or -1 if ranges of that size are not cached. */
    private int classOf(long size) {
        long granules = size >>> granuleShift;
        int c = Long.numberOfTrailingZeros(granules);
        return Long.bitCount(granules) == 1 && c < CLASSES ? c : -1;
    }

    /** This thread's stripe, by its {@link CpuSlots} number. */
    private Stripe mine() {
        return stripes[CpuSlots.current() & (stripes.length - 1)];
    }

    /**
     * Takes from this thread's stripe a cached range of {@code size} bytes aligned to
     * {@code alignment} ending at or below {@code top}; touches only the stripe's lock.
     *
     * @return its first IOVA, or -1 if there is none (or the size is not cached)
     */
    long take(long size, long alignment, long top) {
        int c = classOf(size);
        if (c < 0) {
            return -1;
        }
        Stripe s = mine();
        synchronized (s) {
            return s.take(c, size, alignment, top);
        }
    }

    /**
     * When this thread's stripe holds nothing of the size's class, loads a full magazine from
     * the depot and takes from it as {@link #take} does. The caller holds the allocator lock.
     *
     * @return the first IOVA taken, or -1
     */
    long refillAndTake(long size, long alignment, long top) {
        int c = classOf(size);
        if (c < 0 || depot[c].isEmpty()) {
            return -1;
        }
        Stripe s = mine();
        synchronized (s) {
            if (s.count(s.loaded[c]) + s.count(s.prev[c]) != 0) {
                return -1;
            }
            s.loaded[c] = depot[c].pop();
            return s.take(c, size, alignment, top);
        }
    }

    /**
     * Caches a freed range in this thread's stripe if its class is cached and the stripe's
     * magazines have room; touches only the stripe's lock.
     *
     * @return true if cached; false if the caller must call {@link #putOrSpill} or free it itself
     */
    boolean put(long iova, long size) {
        int c = classOf(size);
        if (c < 0) {
            return false;
        }
        Stripe s = mine();
        synchronized (s) {
            return s.put(c, iova);
        }
    }

    /**
     * Caches a freed range, moving the stripe's full magazine to the depot, or when the depot is
     * full returning that magazine's ranges to {@code tree}. The caller holds the allocator lock.
     *
     * @return true if cached; false if the size is not cached (the caller frees it itself)
     */
    boolean putOrSpill(long iova, long size, Sink tree) {
        int c = classOf(size);
        if (c < 0) {
            return false;
        }
        Stripe s = mine();
        synchronized (s) {
            if (s.put(c, iova)) {
                return true;
            }
            Magazine full = s.loaded[c];
            if (depot[c].size() < DEPOT) {
                depot[c].push(full);
                s.loaded[c] = new Magazine();
            } else {
                long n = (long) 1 << (c + granuleShift);
                for (int i = 0; i < full.count; i++) {
                    tree.accept(full.iovas[i], n);
                }
                full.count = 0;
            }
            s.loaded[c].iovas[s.loaded[c].count++] = iova;
            return true;
        }
    }

    /** Empties every stripe and the depot into {@code tree}. The caller holds the allocator lock. */
    void drainInto(Sink tree) {
        for (int c = 0; c < CLASSES; c++) {
            long n = (long) 1 << (c + granuleShift);
            for (Magazine m : depot[c]) {
                for (int i = 0; i < m.count; i++) {
                    tree.accept(m.iovas[i], n);
                }
            }
            depot[c].clear();
        }
        for (Stripe s : stripes) {
            synchronized (s) {
                for (int c = 0; c < CLASSES; c++) {
                    long n = (long) 1 << (c + granuleShift);
                    for (Magazine m : new Magazine[] {s.loaded[c], s.prev[c]}) {
                        if (m != null) {
                            for (int i = 0; i < m.count; i++) {
                                tree.accept(m.iovas[i], n);
                            }
                            m.count = 0;
                        }
                    }
                }
            }
        }
    }

    /** Visits every cached range, leaving it cached. The caller holds the allocator lock. */
    void forEachCached(Sink action) {
        for (int c = 0; c < CLASSES; c++) {
            long n = (long) 1 << (c + granuleShift);
            for (Magazine m : depot[c]) {
                for (int i = 0; i < m.count; i++) {
                    action.accept(m.iovas[i], n);
                }
            }
        }
        for (Stripe s : stripes) {
            synchronized (s) {
                for (int c = 0; c < CLASSES; c++) {
                    long n = (long) 1 << (c + granuleShift);
                    for (Magazine m : new Magazine[] {s.loaded[c], s.prev[c]}) {
                        for (int i = 0; m != null && i < m.count; i++) {
                            action.accept(m.iovas[i], n);
                        }
                    }
                }
            }
        }
    }

    /** A stack of cached ranges of one class. */
    private static final class Magazine {
        final long[] iovas = new long[MAGAZINE];
        int count;
    }

    /**
     * One CPU's worth of magazines; its monitor guards them. Magazines are made on first use (by
     * the thread using the stripe, so in its own allocation buffer). The padding keeps the lock
     * words of stripes allocated one after the other off a shared pair of cache lines.
     */
    @SuppressWarnings("unused")
    private static final class Stripe {
        @GuardedBy("this")
        final Magazine[] loaded = new Magazine[CLASSES];

        @GuardedBy("this")
        final Magazine[] prev = new Magazine[CLASSES];

        long p0, p1, p2, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13, p14, p15;

        int count(Magazine m) {
            return m == null ? 0 : m.count;
        }

        long take(int c, long size, long alignment, long top) {
            long at = takeFrom(loaded[c], size, alignment, top);
            return at >= 0 ? at : takeFrom(prev[c], size, alignment, top);
        }

        /** The most recently pushed range that satisfies the request, removed; or -1. */
        private static long takeFrom(Magazine m, long size, long alignment, long top) {
            if (m == null) {
                return -1;
            }
            for (int i = m.count - 1; i >= 0; i--) {
                long at = m.iovas[i];
                if ((at & (alignment - 1)) == 0 && at + size <= top) {
                    System.arraycopy(m.iovas, i + 1, m.iovas, i, m.count - 1 - i);
                    m.count--;
                    return at;
                }
            }
            return -1;
        }

        boolean put(int c, long iova) {
            Magazine m = loaded[c];
            if (m == null) {
                m = loaded[c] = new Magazine();
            }
            if (m.count == MAGAZINE) {
                Magazine p = prev[c];
                if (p == null) {
                    p = prev[c] = new Magazine();
                }
                if (p.count == MAGAZINE) {
                    return false;
                }
                loaded[c] = p;
                prev[c] = m;
                m = p;
            }
            m.iovas[m.count++] = iova;
            return true;
        }
    }
}
