package org.dmashare.iommu;

import java.util.Objects;
import org.dmashare.Hex;

/**
 * The domain level of map and unmap: the table operations of {@link IommuDomain} together with
 * the IOTLB work they owe, as Linux's {@code iommu_map} and {@code iommu_unmap} add it to the
 * drivers' {@code map_pages} and {@code unmap_pages}. Callers that hand IOVAs to devices (the
 * sharing helper, the DMA-API model, drivers) use this class and cannot forget a sync: a mapping
 * is usable by devices when {@link #map} returns, and a range is unreachable when
 * {@link #unmap} returns. {@link IommuDomain#map}, {@link IommuDomain#unmap},
 * {@link IommuDomain#syncMap} and {@link IommuDomain#flushIotlb} stay the table and hardware level,
 * for backends and the conformance kit, where a stale IOTLB entry must stay observable.
 *
 * <p>Two forms for callers that batch, as in Linux:
 * <ul>
 *   <li>{@link #mapNoSync} ({@code iommu_map_nosync}) for each piece, then one {@link #syncMap}
 *       ({@code iommu_sync_map}) over the whole range, as {@code iommu_map_sg} does;</li>
 *   <li>{@link #unmapFast} ({@code iommu_unmap_fast}) for each range with one
 *       {@link IotlbGather} collecting what was removed, then one {@link #iotlbSync}
 *       ({@code iommu_iotlb_sync}).</li>
 * </ul>
 * A sync of a gather that collected nothing does no IOTLB work, as Linux's
 * {@code iommu_iotlb_sync} since commit 90c5def10bea ("iommu: Do not call drivers for empty
 * gathers"); so {@link #unmap} of a range with nothing mapped invalidates nothing.
 *
 * <p>Thread-safe as the domain is; this class holds no state and takes no lock of its own. Each
 * method takes the domain's page-table lock for the table step and releases it before the IOTLB
 * step (which takes the unit's and the IOTLB's), so the two never nest. A failed call leaves the
 * domain as it was.
 */
public final class IommuApi {
    private IommuApi() {}

    /**
     * Maps {@code [iova, iova + size)} to {@code [pa, pa + size)} and makes it usable by every
     * device attached to {@code d}: {@link IommuDomain#map} then {@link IommuDomain#syncMap}
     * (Linux's {@code iommu_map}). If the sync fails the mapping is unmapped again, with a flush.
     *
     * @param d the domain
     * @param iova first IOVA, a multiple of the granule, inside the aperture
     * @param pa first physical address, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @param prot rights of the mapping; must allow read or write
     * @throws NullPointerException if {@code d} or {@code prot} is null
     * @throws org.dmashare.InvalidArgumentException if an argument is misaligned, out of range or
     *     not expressible by the format
     * @throws org.dmashare.MappingConflictException if any part of the range is already mapped
     * @throws org.dmashare.PhysicalMemoryExhaustedException if a table page cannot be allocated
     * @throws org.dmashare.ObjectClosedException if the domain is closed
     */
    public static void map(IommuDomain d, long iova, long pa, long size, Prot prot) {
        mapNoSync(d, iova, pa, size, prot);
        try {
            d.syncMap(iova, size);
        } catch (RuntimeException e) {
            try {
                unmap(d, iova, size);
            } catch (RuntimeException u) {
                e.addSuppressed(u);
            }
            throw e;
        }
    }

    /**
     * Maps without the IOTLB work (Linux's {@code iommu_map_nosync}): devices may not reach the
     * range until {@link #syncMap} covers it. For callers that map several pieces of one range and
     * sync once.
     *
     * @param d the domain
     * @param iova first IOVA, as for {@link #map}
     * @param pa first physical address, as for {@link #map}
     * @param size bytes, as for {@link #map}
     * @param prot rights, as for {@link #map}
     * @throws NullPointerException if {@code d} or {@code prot} is null
     * @throws org.dmashare.InvalidArgumentException as {@link #map}
     * @throws org.dmashare.MappingConflictException as {@link #map}
     * @throws org.dmashare.PhysicalMemoryExhaustedException as {@link #map}
     * @throws org.dmashare.ObjectClosedException as {@link #map}
     */
    public static void mapNoSync(IommuDomain d, long iova, long pa, long size, Prot prot) {
        Objects.requireNonNull(d, "domain");
        Objects.requireNonNull(prot, "prot");
        d.map(iova, pa, size, prot);
    }

    /**
     * Makes ranges mapped with {@link #mapNoSync} usable by devices (Linux's
     * {@code iommu_sync_map}, which calls the driver's {@code iotlb_sync_map}): one call may cover
     * several pieces mapped back to back.
     *
     * @param d the domain
     * @param iova first IOVA of the new mappings
     * @param size bytes they span
     * @throws NullPointerException if {@code d} is null
     * @throws org.dmashare.InvalidArgumentException if the range is not whole granules at a
     *     granule-aligned IOVA
     */
    public static void syncMap(IommuDomain d, long iova, long size) {
        Objects.requireNonNull(d, "domain");
        d.syncMap(iova, size);
    }

    /**
     * Unmaps {@code [iova, iova + size)} and invalidates the IOTLB before returning, so no device
     * reaches the range afterwards (Linux's {@code iommu_unmap}): {@link #unmapFast} with a gather
     * of its own, then {@link #iotlbSync}. If nothing was mapped there, nothing is invalidated.
     *
     * @param d the domain
     * @param iova first IOVA, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @return the number of bytes that were mapped and are now unmapped
     * @throws NullPointerException if {@code d} is null
     * @throws org.dmashare.InvalidArgumentException if an argument is misaligned or out of range
     * @throws org.dmashare.MappingConflictException if the range cuts a mapping; nothing is
     *     unmapped or invalidated
     * @throws org.dmashare.ObjectClosedException if the domain is closed
     */
    public static long unmap(IommuDomain d, long iova, long size) {
        Objects.requireNonNull(d, "domain");
        // unmapFast into a gather of its own, then iotlbSync: without allocating the gather.
        long unmapped = d.unmap(iova, size);
        if (unmapped > 0) {
            d.flushIotlb();
        }
        return unmapped;
    }

    /**
     * Unmaps {@code [iova, iova + size)} without the IOTLB work and adds what it removed to
     * {@code gather} (Linux's {@code iommu_unmap_fast}). Devices may keep using cached translations
     * of the range until {@link #iotlbSync} with that gather: the caller must sync before it frees
     * the pages or reuses the IOVA.
     *
     * @param d the domain
     * @param iova first IOVA, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @param gather collects the range if anything was unmapped
     * @return the number of bytes that were mapped and are now unmapped
     * @throws NullPointerException if {@code d} or {@code gather} is null
     * @throws org.dmashare.InvalidArgumentException if an argument is misaligned or out of range,
     *     or {@code gather} holds ranges of another domain; nothing is unmapped
     * @throws org.dmashare.MappingConflictException if the range cuts a mapping; nothing is
     *     unmapped and the gather is unchanged
     * @throws org.dmashare.ObjectClosedException if the domain is closed
     */
    public static long unmapFast(IommuDomain d, long iova, long size, IotlbGather gather) {
        Objects.requireNonNull(gather, "gather");
        gather.checkDomain(d, "unmapFast of " + Hex.range(iova, size));
        long unmapped = d.unmap(iova, size);
        if (unmapped > 0) {
            gather.add(d, iova, size);
        }
        return unmapped;
    }

    /**
     * Pays the invalidation {@code gather} collected (Linux's {@code iommu_iotlb_sync}): flushes
     * the IOTLB of {@code d}'s streams, then empties the gather for reuse. An empty gather does
     * nothing.
     *
     * @param d the domain the gathered ranges were unmapped from
     * @param gather the ranges owed
     * @throws NullPointerException if {@code d} or {@code gather} is null
     * @throws org.dmashare.InvalidArgumentException if {@code gather} holds ranges of another
     *     domain; nothing is flushed and the gather is unchanged
     */
    public static void iotlbSync(IommuDomain d, IotlbGather gather) {
        Objects.requireNonNull(gather, "gather");
        gather.checkDomain(d, "iotlbSync");
        if (gather.isEmpty()) {
            return;
        }
        d.flushIotlb();
        gather.reset();
    }
}
