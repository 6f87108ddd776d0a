package org.dmashare.iommu.support;

import java.util.concurrent.ConcurrentHashMap;
import org.dmashare.iommu.Translation;

/**
 * The IOTLB of one IOMMU unit: translations of granule-sized pages cached per stream. An entry
 * stays until its stream is invalidated; when the cache is over capacity it is emptied, which the
 * hardware is allowed to do at any time.
 */
final class Iotlb {
    private final ConcurrentHashMap<Long, Translation> entries = new ConcurrentHashMap<>();
    private final int granuleShift;
    private final int capacity;

    Iotlb(int granuleShift, int capacity) {
        this.granuleShift = granuleShift;
        this.capacity = capacity;
    }

    private long key(int sid, long iova) {
        return ((long) sid << 52) | (iova >>> granuleShift);
    }

    Translation lookup(int sid, long iova) {
        return entries.get(key(sid, iova));
    }

    /** Caches the granule page of {@code t} for {@code sid}. */
    void fill(int sid, Translation t) {
        if (entries.size() >= capacity) {
            entries.clear();
        }
        long mask = (1L << granuleShift) - 1;
        entries.put(key(sid, t.iova()), new Translation(t.iova() & ~mask, t.pa() & ~mask, t.pageSize(), t.prot(),
                t.windowStart(), t.windowEnd()));
    }

    void invalidate(int sid) {
        entries.keySet().removeIf(k -> (k >>> 52) == sid);
    }

    void invalidateAll() {
        entries.clear();
    }

    int size() {
        return entries.size();
    }
}
