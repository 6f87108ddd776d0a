package org.dmashare.sharing;

import java.util.ArrayDeque;
import java.util.IdentityHashMap;
import java.util.Map;
import org.dmashare.iommu.IommuDomain;

/**
 * Freed IOVA ranges kept out of use, per domain, in a bounded FIFO, as Linux's flush queue holds
 * freed IOVAs until a flush: a range stays allocated in its domain's IOVA allocator (so nothing
 * else can get it) until {@code depth} later ranges of the same domain have been released behind
 * it, or until {@link #drain()}. The ranges are already unmapped and flushed when they enter, so
 * a device that keeps using one meets an invalid entry and faults with {@code TRANSLATION}.
 *
 * <p>With depth 0 (the default of {@link DmaSharing}) a range goes straight back to its allocator.
 */
final class IovaQuarantine {
    private final int depth;
    /** Guarded by this. Per domain: IOVA, length, IOVA, length, ... oldest first. */
    private final Map<IommuDomain, ArrayDeque<long[]>> held = new IdentityHashMap<>();

    IovaQuarantine(int depth) {
        this.depth = depth;
    }

    int depth() {
        return depth;
    }

    /** Releases an unmapped, flushed range: into the FIFO, evicting the oldest beyond the depth. */
    void release(IommuDomain d, long iova, long length) {
        if (depth == 0) {
            d.iovaAllocator().free(iova, length);
            return;
        }
        long[] evicted;
        synchronized (this) {
            ArrayDeque<long[]> q = held.computeIfAbsent(d, k -> new ArrayDeque<>(depth + 1));
            q.addLast(new long[] {iova, length});
            evicted = q.size() > depth ? q.pollFirst() : null;
        }
        if (evicted != null) {
            d.iovaAllocator().free(evicted[0], evicted[1]);
        }
    }

    /** Frees every held range of every domain back to its allocator. */
    void drain() {
        Map<IommuDomain, ArrayDeque<long[]>> all;
        synchronized (this) {
            all = new IdentityHashMap<>(held);
            held.clear();
        }
        for (Map.Entry<IommuDomain, ArrayDeque<long[]>> e : all.entrySet()) {
            for (long[] r : e.getValue()) {
                e.getKey().iovaAllocator().free(r[0], r[1]);
            }
        }
    }

    /** Number of ranges held for {@code d}. */
    synchronized int held(IommuDomain d) {
        ArrayDeque<long[]> q = held.get(d);
        return q == null ? 0 : q.size();
    }
}
