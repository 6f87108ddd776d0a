package org.dmashare.iommu.support;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;

/**
 * What every domain of an {@link AbstractIommu} shares: its unit, its type, the devices attached
 * to it, IOTLB flushing and the closed state. Subclasses add the address space.
 */
public abstract class BaseDomain implements IommuDomain {
    private final AbstractIommu iommu;
    private final DomainType type;
    private final Set<DmaDevice> devices = ConcurrentHashMap.newKeySet();
    /**
     * The attached devices' stream IDs, sorted: rebuilt on attach and detach (rare) so that
     * {@link #flushIotlb()}, which every unmap and close calls, neither iterates the set nor
     * allocates. Never modified once published; the invalidate hook only reads it.
     */
    private volatile int[] streamIds = new int[0];

    private volatile boolean closed;

    /**
     * Creates a domain of {@code iommu}.
     *
     * @param iommu the unit
     * @param type the domain's kind
     */
    protected BaseDomain(AbstractIommu iommu, DomainType type) {
        this.iommu = Objects.requireNonNull(iommu, "iommu");
        this.type = Objects.requireNonNull(type, "type");
    }

    @Override
    public final Iommu iommu() {
        return iommu;
    }

    /**
     * The unit, typed for subclasses.
     *
     * @return the unit
     */
    protected final AbstractIommu unit() {
        return iommu;
    }

    @Override
    public final DomainType type() {
        return type;
    }

    @Override
    public final Set<DmaDevice> devices() {
        return Set.copyOf(devices);
    }

    final void attached(DmaDevice d) {
        synchronized (devices) {
            devices.add(d);
            rebuildStreamIds();
        }
    }

    final void detached(DmaDevice d) {
        synchronized (devices) {
            devices.remove(d);
            rebuildStreamIds();
        }
    }

    private void rebuildStreamIds() {
        int[] sids = new int[devices.size()];
        int n = 0;
        for (DmaDevice d : devices) {
            if (n < sids.length) {
                sids[n++] = d.streamId();
            }
        }
        sids = Arrays.copyOf(sids, n);
        Arrays.sort(sids);
        streamIds = sids;
    }

    @Override
    public void flushIotlb() {
        iommu.invalidate(streamIds);
    }

    /**
     * Checks the range and otherwise does nothing: the IOTLB of {@link AbstractIommu} caches only
     * valid translations, so a range that was unmapped (and flushed) has nothing cached. Backends
     * whose hardware also caches misses override this, call it first, and flush.
     *
     * @throws org.dmashare.InvalidArgumentException if {@code iova} or {@code size} is not a
     *     multiple of the granule, {@code size} is not positive, or the range overflows; as for
     *     {@link #map}, a range that was never mapped in granules cannot have been just mapped
     */
    @Override
    public void syncMap(long iova, long size) {
        long g = granule();
        if (size <= 0 || iova < 0 || iova > Long.MAX_VALUE - size || (iova | size) % g != 0) {
            throw new InvalidArgumentException("syncMap of " + Hex.of(iova) + " + " + Hex.of(size) + " on "
                    + this + " refused: the range must be a positive number of granules (" + Hex.size(g)
                    + ") at a granule-aligned IOVA, as map requires");
        }
    }

    /**
     * Throws if the domain is closed.
     *
     * @throws ObjectClosedException if {@link #close()} was called
     */
    protected final void checkOpen() {
        if (closed) {
            throw new ObjectClosedException(this + " is closed");
        }
    }

    @Override
    public boolean isClosed() {
        return closed;
    }

    /**
     * Detaches every device and flushes their IOTLB entries, then calls {@link #release()} once.
     */
    @Override
    public final void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (DmaDevice d : devices()) {
            d.detach();
        }
        release();
    }

    /** Frees what the domain owns (page tables); called once, after every device is detached. */
    protected void release() {}

    @Override
    public String toString() {
        return type.toString().toLowerCase(Locale.ROOT) + " domain " + Hex.of(System.identityHashCode(this)) + " of "
                + iommu.name();
    }
}
