package org.dmashare.iommu;

import java.util.Set;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.iova.IovaSpace;

/**
 * One IOMMU address space: page tables in physical memory, a granule and the page sizes it can
 * map, an aperture and an IOVA allocator. Devices attached to it translate through its tables.
 *
 * <p>Semantics follow Linux io-pgtable: {@link #map} needs IOVA, physical address and size
 * aligned to the granule, uses the largest supported page size at each step and fails on any
 * existing valid entry; {@link #unmap} must cover whole mappings. Changing the tables does not
 * change what devices see until {@link #flushIotlb()}: a translation cached in the IOTLB stays
 * usable, as on hardware. Every method is thread-safe; a failed call changes nothing.
 *
 * <p>{@code map}, {@code unmap}, {@code syncMap} and {@code flushIotlb} are the table and hardware
 * level (io-pgtable's {@code map_pages}/{@code unmap_pages} and the driver's IOTLB operations): a
 * {@code map} is not yet reliably usable by devices and an {@code unmap} leaves cached translations
 * usable. Backends and the conformance kit work at this level. Callers that hand IOVAs to devices
 * use the domain level, {@link IommuApi}, which adds the IOTLB work Linux's {@code iommu_map} and
 * {@code iommu_unmap} add, with no-sync and gather forms for batching.
 */
public interface IommuDomain extends AutoCloseable {

    /** Returned by {@link #iovaToPhys} for an IOVA with no translation. */
    long NO_TRANSLATION = -1;

    /**
     * The unit this domain belongs to.
     *
     * @return the IOMMU
     */
    Iommu iommu();

    /**
     * The kind of domain.
     *
     * @return paging, identity or blocked
     */
    DomainType type();

    /**
     * The smallest page size: every map and unmap argument is a multiple of it.
     *
     * @return the granule in bytes
     */
    long granule();

    /**
     * Bitmap of the page sizes {@link #map} may use (bit n set: 2^n-byte pages).
     *
     * @return the page-size bitmap
     */
    long pageSizes();

    /**
     * Lowest IOVA that can be mapped.
     *
     * @return the aperture start
     */
    long apertureStart();

    /**
     * One past the highest IOVA that can be mapped.
     *
     * @return the aperture end (exclusive)
     */
    long apertureEnd();

    /**
     * A read-only view of this domain's IOVA space: its bounds and its live ranges. It never hands
     * out IOVA 0. Only the core allocates in it (the sharing helper, and the DMA-API model through
     * the core's internal access), so no caller can free a range a buffer still holds.
     *
     * @return the view, the same object on every call
     * @throws InvalidArgumentException if the domain has no IOVA space (identity and blocked
     *     domains)
     */
    IovaSpace iovaSpace();

    /**
     * Maps {@code [iova, iova + size)} to {@code [pa, pa + size)}.
     *
     * @param iova first IOVA, a multiple of the granule, inside the aperture
     * @param pa first physical address, a multiple of the granule, inside memory and the output size
     * @param size bytes, a positive multiple of the granule
     * @param prot rights of the mapping; must allow read or write
     * @throws InvalidArgumentException if an argument is misaligned, out of range or not
     *     expressible by the format
     * @throws MappingConflictException if any part of the range is already mapped
     * @throws PhysicalMemoryExhaustedException if a table page cannot be allocated
     * @throws ObjectClosedException if the domain is closed
     */
    void map(long iova, long pa, long size, Prot prot);

    /**
     * Removes the mappings in {@code [iova, iova + size)}. The range must cover whole mappings:
     * one that cuts a block or starts or ends inside a mapping is refused. Unmapped parts of the
     * range are skipped. Devices may keep using cached translations until {@link #flushIotlb()}.
     *
     * @param iova first IOVA, a multiple of the granule
     * @param size bytes, a positive multiple of the granule
     * @return the number of bytes that were mapped and are now unmapped
     * @throws InvalidArgumentException if an argument is misaligned or out of range
     * @throws MappingConflictException if the range cuts a mapping; nothing is unmapped
     * @throws ObjectClosedException if the domain is closed
     */
    long unmap(long iova, long size);

    /**
     * The physical address {@code iova} translates to, as the software side of the page table
     * knows it.
     *
     * @param iova any address
     * @return the physical address, or {@link #NO_TRANSLATION}
     */
    long iovaToPhys(long iova);

    /**
     * Invalidates every IOTLB entry of every stream attached to this domain, so that devices see
     * the tables as they are now.
     */
    void flushIotlb();

    /**
     * Makes a range just mapped with {@link #map} usable by devices: Linux's
     * {@code iotlb_sync_map}, which {@code iommu_map} and {@code iommu_map_sg} call after a
     * successful map. An IOMMU that may hold a stale or negative entry for a newly mapped IOVA
     * invalidates here (Apple's DART driver flushes the domain's streams); one that caches only
     * valid translations does nothing, since the range had none. Callers that unmap flush with
     * {@link #flushIotlb()} before freeing the IOVA, so no valid entry for it survives a reuse.
     *
     * @param iova first IOVA of the new mapping
     * @param size bytes mapped
     */
    void syncMap(long iova, long size);

    /**
     * The devices attached now.
     *
     * @return an immutable snapshot
     */
    Set<DmaDevice> devices();

    /**
     * Detaches every device (their streams become blocked), flushes their IOTLB entries and returns
     * every page-table page to the page allocator. Mappings are dropped. Closing twice is harmless.
     */
    @Override
    void close();

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    boolean isClosed();
}
