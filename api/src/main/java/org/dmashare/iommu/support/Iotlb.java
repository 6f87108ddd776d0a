package org.dmashare.iommu.support;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.dmashare.iommu.Translation;

/**
 * The IOTLB of one IOMMU unit: translations of granule-sized pages cached per stream. An entry
 * stays until its stream is invalidated; when a stream's cache is over capacity it is emptied,
 * which the hardware is allowed to do at any time. Invalidating a stream drops its whole cache in
 * O(1), as the stream-wide invalidation commands of DART and SMMU do.
 *
 * <p>As on hardware, whose invalidation completes only after the walks in flight, a translation
 * whose walk began before an invalidation of its stream is never cached after it: each stream has
 * a generation, bumped by every invalidation, and a fill carrying an older generation is dropped.
 */
final class Iotlb {
    private final AtomicReferenceArray<ConcurrentHashMap<Long, Translation>> streams;
    private final int granuleShift;
    private final int capacityPerStream;
    private final AtomicLongArray generations;

    Iotlb(int streams, int granuleShift, int capacityPerStream) {
        this.streams = new AtomicReferenceArray<>(streams);
        this.generations = new AtomicLongArray(streams);
        this.granuleShift = granuleShift;
        this.capacityPerStream = capacityPerStream;
    }

    Translation lookup(int sid, long iova) {
        ConcurrentHashMap<Long, Translation> cache = streams.get(sid);
        return cache == null ? null : cache.get(iova >>> granuleShift);
    }

    /** The stream's generation, read before a walk and passed to {@link #fill}. */
    long generation(int sid) {
        return generations.get(sid);
    }

    /**
     * Caches the granule page of {@code t} for {@code sid}, unless the stream was invalidated
     * since {@code generation} was read (the walk may have read tables the invalidation retired).
     */
    synchronized void fill(int sid, Translation t, long generation) {
        if (generations.get(sid) != generation) {
            return;
        }
        ConcurrentHashMap<Long, Translation> cache = streams.get(sid);
        if (cache == null || cache.size() >= capacityPerStream) {
            cache = new ConcurrentHashMap<>();
            streams.set(sid, cache);
        }
        long mask = (1L << granuleShift) - 1;
        cache.put(
                t.iova() >>> granuleShift,
                new Translation(
                        t.iova() & ~mask, t.pa() & ~mask, t.pageSize(), t.prot(), t.windowStart(), t.windowEnd()));
    }

    synchronized void invalidate(int sid) {
        // The generation moves even when the cache is empty: a walk in flight must not fill it
        // with what it read before this flush.
        generations.incrementAndGet(sid);
        streams.set(sid, null);
    }

    synchronized void invalidateAll() {
        for (int i = 0; i < streams.length(); i++) {
            generations.incrementAndGet(i);
            streams.set(i, null);
        }
    }

    int size() {
        int n = 0;
        for (int i = 0; i < streams.length(); i++) {
            ConcurrentHashMap<Long, Translation> cache = streams.get(i);
            n += cache == null ? 0 : cache.size();
        }
        return n;
    }
}
