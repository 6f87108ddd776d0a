package org.dmashare.dmaapi;

import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.dmashare.Hex;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.iova.IovaAllocator;

/**
 * Linux's IOVA domain ({@code struct iova_domain}) over one domain's {@link IovaAllocator}: the
 * rules of {@code alloc_iova_fast} / {@code free_iova_fast} that decide where an iommu-dma mapping
 * lands. Sizes and addresses are in granules ("pfns"), as in iova.c.
 *
 * <ul>
 *   <li>Requests below 32 granules are rounded up to a power of two; every tree allocation is
 *       size-aligned (to the next power of two of its length) and placed top-down: the highest fit
 *       below a cached position, then (once) the highest fit above it.</li>
 *   <li>Separate cached positions for limits at or below 4 GiB and above; a failed 32-bit request
 *       remembers its size so that no larger one is tried until something below 4 GiB is freed.</li>
 *   <li>Freed ranges of 1..32 granules go to a per-size LIFO range cache (one CPU's loaded and
 *       previous magazines of {@value #MAG_SIZE} entries and a depot of up to
 *       {@value #MAX_GLOBAL_MAGS} full magazines) and stay allocated in the tree; allocations
 *       take from that cache first. On tree failure the caches are flushed once and the tree
 *       allocation retried.</li>
 * </ul>
 *
 * <p>The allocator's own placement (highest aligned fit) does the gap search; this class keeps the
 * state iova.c adds around it. It assumes the DMA API is the only user of the allocator's IOVA space
 * (reserved ranges are fine). Thread-safe.
 */
public final class LinuxIovaDomain {
    /** Size classes 0..5 (1..32 granules) are cached ({@code IOVA_RANGE_CACHE_MAX_SIZE}). */
    public static final int RANGE_CACHE_MAX_SIZE = 6;
    /** Entries per magazine ({@code IOVA_MAG_SIZE}). */
    public static final int MAG_SIZE = 128;
    /** Full magazines kept in a size class's depot ({@code MAX_GLOBAL_MAGS}). */
    public static final int MAX_GLOBAL_MAGS = 32;

    private static final long ANCHOR = Long.MAX_VALUE;

    private static final class Magazine {
        final long[] pfns = new long[MAG_SIZE];
        int size;

        boolean full() {
            return size == MAG_SIZE;
        }

        boolean empty() {
            return size == 0;
        }

        void push(long pfn) {
            pfns[size++] = pfn;
        }

        /** The most recent entry that fits at or below {@code limitPfn}, or 0. */
        long pop(long limitPfn) {
            int i = size - 1;
            while (pfns[i] > limitPfn) {
                if (i == 0) {
                    return 0;
                }
                i--;
            }
            long pfn = pfns[i];
            pfns[i] = pfns[--size];
            return pfn;
        }
    }

    private static final class Rcache {
        Magazine loaded = new Magazine();
        Magazine prev = new Magazine();
        final Magazine[] depot = new Magazine[MAX_GLOBAL_MAGS];
        int depotSize;
    }

    private final IovaAllocator tree;
    private final int shift;
    private final long startPfn;
    private final long dma32Pfn;
    private final TreeMap<Long, Long> nodes = new TreeMap<>();
    private final Rcache[] rcaches = new Rcache[RANGE_CACHE_MAX_SIZE];
    private long cachedNode = ANCHOR;
    private long cached32Node = ANCHOR;
    private long max32AllocSize;

    /**
     * Sets up the IOVA domain over {@code tree} ({@code init_iova_domain}).
     *
     * @param tree the domain's allocator; its granule is the IOVA granule and its start the first
     *     allocatable frame
     */
    public LinuxIovaDomain(IovaAllocator tree) {
        this.tree = Objects.requireNonNull(tree, "tree");
        this.shift = Long.numberOfTrailingZeros(tree.granule());
        this.startPfn = tree.start() >>> shift;
        this.dma32Pfn = (1L << 32) >>> shift;
        this.max32AllocSize = dma32Pfn;
        for (int i = 0; i < rcaches.length; i++) {
            rcaches[i] = new Rcache();
        }
    }

    /**
     * The IOVA granule.
     *
     * @return bytes
     */
    public long granule() {
        return 1L << shift;
    }

    /**
     * log2 of the granule.
     *
     * @return the shift
     */
    public int shift() {
        return shift;
    }

    /**
     * Allocates {@code size} granules ending at or below frame {@code limitPfn} inclusive
     * ({@code alloc_iova_fast}).
     *
     * @param size granules asked for, positive
     * @param limitPfn highest frame the range may use
     * @param flushRcache whether to empty the range caches and retry once when the tree is full
     * @return the first frame, or 0 if nothing fits
     */
    public synchronized long allocIovaFast(long size, long limitPfn, boolean flushRcache) {
        if (size <= 0) {
            return 0;
        }
        if (size < (1L << (RANGE_CACHE_MAX_SIZE - 1))) {
            size = roundUpPow2(size);
        }
        long pfn = rcacheGet(size, limitPfn + 1);
        if (pfn != 0) {
            return pfn;
        }
        while (true) {
            pfn = allocIova(size, limitPfn + 1);
            if (pfn != 0 || !flushRcache) {
                return pfn;
            }
            flushRcache = false;
            freeAllCached();
        }
    }

    /**
     * Frees a range {@code allocIovaFast} returned ({@code free_iova_fast}): into the range cache
     * when its size class is cached, else out of the tree. As in iova.c nothing is checked before
     * a range enters the cache (a double free caches it twice), and a tree free of a frame no
     * live range contains does nothing.
     *
     * @param pfn the range's first frame
     * @param size its length in granules as the caller knows it (unrounded)
     */
    public synchronized void freeIovaFast(long pfn, long size) {
        if (!rcacheInsert(pfn, size)) {
            freeIova(pfn);
        }
    }

    /**
     * Ranges held by the tree now (including those parked in the range cache), first frame to
     * length in granules.
     *
     * @return an immutable snapshot
     */
    public synchronized Map<Long, Long> liveRanges() {
        return Map.copyOf(nodes);
    }

    /**
     * Number of ranges parked in the range caches.
     *
     * @return the count
     */
    public synchronized int cachedRanges() {
        int n = 0;
        for (Rcache r : rcaches) {
            n += r.loaded.size + r.prev.size;
            for (int i = 0; i < r.depotSize; i++) {
                n += r.depot[i].size;
            }
        }
        return n;
    }

    /** Returns every cached range to the tree ({@code free_cpu_cached_iovas} + global). */
    public synchronized void freeAllCached() {
        for (Rcache r : rcaches) {
            freeMagazine(r.loaded);
            freeMagazine(r.prev);
            for (int i = 0; i < r.depotSize; i++) {
                freeMagazine(r.depot[i]);
                r.depot[i] = null;
            }
            r.depotSize = 0;
        }
    }

    // ---- tree ----

    /** {@code alloc_iova} with size alignment; {@code limit} is an exclusive frame; 0 on failure. */
    private long allocIova(long size, long limit) {
        if (limit <= dma32Pfn && size >= max32AllocSize) {
            return 0;
        }
        long cursor = limit <= dma32Pfn ? cached32Node : cachedNode;
        long alignment = roundUpPow2(size);
        long pfn = find(size, alignment, Math.min(limit, cursor));
        if (pfn == 0 && cursor != ANCHOR) {
            Long cursorSize = nodes.get(cursor);
            long retryPfn = cursor + (cursorSize == null ? 0 : cursorSize);
            if (retryPfn < limit) {
                pfn = find(size, alignment, limit);
            }
        }
        if (pfn == 0) {
            max32AllocSize = size;
            return 0;
        }
        try {
            tree.allocateAt(pfn << shift, size << shift);
        } catch (IovaSpaceExhaustedException e) {
            return 0; // an injected failure
        }
        nodes.put(pfn, size);
        if (limit > dma32Pfn) {
            cachedNode = pfn;
        } else {
            cached32Node = pfn;
        }
        return pfn;
    }

    private long find(long size, long alignment, long highExclusive) {
        if (highExclusive - startPfn < size || (size << shift) > tree.end() - tree.start()) {
            return 0;
        }
        long at = tree.findFree(size << shift, alignment << shift, highExclusive << shift);
        return at < 0 ? 0 : at >>> shift;
    }

    /** {@code free_iova}: removes the node containing {@code pfn}. */
    private void freeIova(long pfn) {
        Map.Entry<Long, Long> node = nodes.floorEntry(pfn);
        if (node == null || pfn >= node.getKey() + node.getValue()) {
            return; // iova.c: free_iova of an unknown frame is ignored
        }
        long lo = node.getKey();
        long hi = lo + node.getValue() - 1;
        Long higher = nodes.higherKey(lo);
        long next = higher == null ? ANCHOR : higher;
        if (cached32Node == lo || (hi < dma32Pfn && lo >= cached32Node)) {
            cached32Node = next;
        }
        if (lo < dma32Pfn) {
            max32AllocSize = dma32Pfn;
        }
        if (lo >= cachedNode) {
            cachedNode = next;
        }
        nodes.remove(lo);
        tree.free(lo << shift, node.getValue() << shift);
    }

    // ---- range cache ----

    private boolean rcacheInsert(long pfn, long size) {
        int log = orderBase2(size);
        if (log >= RANGE_CACHE_MAX_SIZE) {
            return false;
        }
        Rcache r = rcaches[log];
        Magazine toFree = null;
        if (r.loaded.full()) {
            if (!r.prev.full()) {
                Magazine t = r.loaded;
                r.loaded = r.prev;
                r.prev = t;
            } else {
                if (r.depotSize < MAX_GLOBAL_MAGS) {
                    r.depot[r.depotSize++] = r.loaded;
                } else {
                    toFree = r.loaded;
                }
                r.loaded = new Magazine();
            }
        }
        r.loaded.push(pfn);
        if (toFree != null) {
            freeMagazine(toFree);
        }
        return true;
    }

    /** A cached range of {@code size} granules whose frames all lie below {@code limit} (exclusive), or 0. */
    private long rcacheGet(long size, long limit) {
        int log = orderBase2(size);
        if (log >= RANGE_CACHE_MAX_SIZE) {
            return 0;
        }
        Rcache r = rcaches[log];
        if (r.loaded.empty()) {
            if (!r.prev.empty()) {
                Magazine t = r.loaded;
                r.loaded = r.prev;
                r.prev = t;
            } else if (r.depotSize > 0) {
                r.loaded = r.depot[--r.depotSize];
                r.depot[r.depotSize] = null;
            } else {
                return 0;
            }
        }
        return r.loaded.pop(limit - size);
    }

    private void freeMagazine(Magazine m) {
        for (int i = 0; i < m.size; i++) {
            freeIova(m.pfns[i]);
        }
        m.size = 0;
    }

    static long roundUpPow2(long n) {
        return n <= 1 ? 1 : Long.highestOneBit(n - 1) << 1;
    }

    static int orderBase2(long n) {
        return n <= 1 ? 0 : 64 - Long.numberOfLeadingZeros(n - 1);
    }

    @Override
    public synchronized String toString() {
        return "LinuxIovaDomain[granule " + Hex.size(granule()) + ", " + nodes.size() + " ranges, " + cachedRanges()
                + " cached]";
    }
}
