package org.dmashare.iommu;

import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;

/**
 * The IOVA ranges a batch of {@link IommuApi#unmapFast unmapFast} calls removed from one domain and
 * whose IOTLB invalidation is still owed: Linux's {@code struct iommu_iotlb_gather}. A caller that
 * unmaps several ranges creates one gather, passes it to each {@code unmapFast}, and pays for one
 * invalidation with {@link IommuApi#iotlbSync(IommuDomain, IotlbGather)} before it reuses the IOVA
 * or frees the pages. Until then devices may keep using the cached translations of every gathered
 * range.
 *
 * <p>As Linux's {@code iommu_iotlb_gather_add_range}, the gather keeps one range: the smallest one
 * covering everything added (adjacent or overlapping ranges merge exactly; disjoint ones widen it,
 * which costs nothing here since every backend invalidates whole streams). A range that removed
 * nothing is not added, so a gather over unmaps that found nothing stays {@linkplain #isEmpty()
 * empty} and its sync does no IOTLB work.
 *
 * <p>A gather belongs to the first domain it collects a range of, until the next sync empties it:
 * gathering another domain's unmap, or syncing it against another domain, is refused, since the
 * owed invalidation would land on the wrong IOTLB. Not thread-safe: one gather serves one caller's
 * batch, as Linux's lives on the caller's stack.
 */
public final class IotlbGather {
    private IommuDomain domain;
    private long start;
    private long end;

    /** Creates an empty gather. */
    public IotlbGather() {}

    /**
     * Whether no range is owed.
     *
     * @return true if nothing was gathered since creation or the last sync
     */
    public boolean isEmpty() {
        return domain == null;
    }

    /**
     * The domain whose ranges this gather holds.
     *
     * @return the domain, or null if the gather is empty
     */
    public IommuDomain domain() {
        return domain;
    }

    /**
     * The first IOVA of the gathered range.
     *
     * @return the start
     * @throws IllegalStateException if the gather is empty
     */
    public long start() {
        requireRange("start");
        return start;
    }

    /**
     * One past the last IOVA of the gathered range.
     *
     * @return the end (exclusive)
     * @throws IllegalStateException if the gather is empty
     */
    public long end() {
        requireRange("end");
        return end;
    }

    private void requireRange(String what) {
        if (domain == null) {
            throw new IllegalStateException("an empty IOTLB gather has no " + what + ": check isEmpty() first");
        }
    }

    /**
     * Throws unless this gather may collect ranges of, or be synced against, {@code d}.
     *
     * @throws InvalidArgumentException if it holds ranges of another domain
     */
    void checkDomain(IommuDomain d, String op) {
        Objects.requireNonNull(d, "domain");
        if (domain != null && domain != d) {
            throw new InvalidArgumentException(op + " on " + d + " refused: the IOTLB gather holds "
                    + Hex.range(start, end - start) + " of " + domain + ", whose invalidation is still owed;"
                    + " sync it against that domain first, or use one gather per domain");
        }
    }

    /** Adds {@code [iova, iova + size)} of {@code d}; the caller checked the domain. */
    void add(IommuDomain d, long iova, long size) {
        long e = iova + size;
        if (domain == null) {
            domain = d;
            start = iova;
            end = e;
        } else {
            start = Math.min(start, iova);
            end = Math.max(end, e);
        }
    }

    /** Empties the gather, as Linux's {@code iommu_iotlb_gather_init} after a sync. */
    void reset() {
        domain = null;
        start = 0;
        end = 0;
    }

    @Override
    public String toString() {
        return domain == null
                ? "empty IOTLB gather"
                : "IOTLB gather of " + Hex.range(start, end - start) + " in " + domain;
    }
}
