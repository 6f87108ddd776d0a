package org.dmashare.iommu.support;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.dmashare.iommu.Translation;

/**
 * The IOTLB of one IOMMU unit: translations of granule-sized pages cached per stream. An entry
 * stays until its stream is invalidated; when a stream's cache is over capacity it is emptied,
 * which the hardware is allowed to do at any time. Invalidating a stream drops its whole cache in
 * O(1), as the stream-wide invalidation commands of DART and SMMU do.
 */
final class Iotlb {
    private final AtomicReferenceArray<ConcurrentHashMap<Long, Translation>> streams;
    private final int granuleShift;
    private final int capacityPerStream;

    Iotlb(int streams, int granuleShift, int capacityPerStream) {
        this.streams = new AtomicReferenceArray<>(streams);
        this.granuleShift = granuleShift;
        this.capacityPerStream = capacityPerStream;
    }

    Translation lookup(int sid, long iova) {
        ConcurrentHashMap<Long, Translation> cache = streams.get(sid);
        return cache == null ? null : cache.get(iova >>> granuleShift);
    }

    /** Caches the granule page of {@code t} for {@code sid}. */
    void fill(int sid, Translation t) {
        ConcurrentHashMap<Long, Translation> cache = streams.get(sid);
        if (cache == null || cache.size() >= capacityPerStream) {
            cache = new ConcurrentHashMap<>();
            streams.set(sid, cache);
        }
        long mask = (1L << granuleShift) - 1;
        cache.put(t.iova() >>> granuleShift, new Translation(t.iova() & ~mask, t.pa() & ~mask, t.pageSize(), t.prot(),
                t.windowStart(), t.windowEnd()));
    }

    void invalidate(int sid) {
        // Every map and unmap flushes; most find the stream's cache already empty. Reading first
        // skips the volatile store (a full fence) then, and a fill racing with either version
        // ends the same way.
        if (streams.get(sid) != null) {
            streams.set(sid, null);
        }
    }

    void invalidateAll() {
        for (int i = 0; i < streams.length(); i++) {
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
