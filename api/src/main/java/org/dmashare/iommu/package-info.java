/**
 * The IOMMU backend SPI: {@link org.dmashare.iommu.IommuBackend} (found with
 * {@link java.util.ServiceLoader} through {@link org.dmashare.iommu.IommuBackends}) creates
 * {@link org.dmashare.iommu.Iommu} units, which create {@link org.dmashare.iommu.IommuDomain}
 * address spaces and hand out the {@link org.dmashare.iommu.DmaDevice} behind each stream.
 *
 * <p>Domain semantics follow Linux io-pgtable and iommufd: {@code map} needs IOVA, physical
 * address and size aligned to the granule and fails on an existing valid entry; {@code unmap}
 * must cover whole mappings and returns the bytes unmapped. Devices reach memory only through the
 * IOTLB and a walk of the page tables stored in {@link org.dmashare.memory.PhysicalMemory}; a
 * translation stays in the IOTLB until the domain's IOTLB is flushed.
 *
 * <p>Two levels of map and unmap, as in Linux: {@link org.dmashare.iommu.IommuDomain}'s
 * {@code map}, {@code unmap}, {@code syncMap} and {@code flushIotlb} are the table and hardware
 * level that backends implement and the conformance kit checks (a stale IOTLB entry stays
 * observable there); {@link org.dmashare.iommu.IommuApi} is the domain level callers use
 * ({@code iommu_map}, {@code iommu_unmap}, and the no-sync and {@link
 * org.dmashare.iommu.IotlbGather gather} forms for batching), which does the IOTLB work itself.
 *
 * <h2>Locks</h2>
 * <p>This package declares interfaces; their implementations (see
 * {@link org.dmashare.iommu.support}) take these locks, always in this order when they nest
 * (a lock may be taken while holding only locks listed before it):
 * <ol>
 *   <li>a {@code SharedBuffer}'s monitor (the sharing helper);</li>
 *   <li>the helper's identical-IOVA lock, held while one IOVA is chosen for several domains;</li>
 *   <li>a domain's IOVA allocator ({@link org.dmashare.iova.IovaAllocator}'s monitor) or its
 *       page table ({@link org.dmashare.pgtable.IoPageTable#lock()}); these two never nest in
 *       each other, and the page table takes the page allocator's lock inside its own;</li>
 *   <li>the unit's lock, taken by attach and detach, IOTLB invalidation, register access and
 *       fault latching (for {@code AbstractIommu} units, the unit's monitor); inside it the
 *       domain's device-set lock may be taken;</li>
 *   <li>the IOTLB's lock, a leaf.</li>
 * </ol>
 * <p>A domain's {@code map}, {@code unmap} and {@code iovaToPhys} take only its page table's
 * lock; {@code flushIotlb} and {@code syncMap} take the IOTLB's, and first the unit's where the
 * backend models invalidation registers (DART). So a caller may flush while holding a buffer
 * lock or the identical-IOVA lock, but never while holding a page table's or an IOVA
 * allocator's lock. Device DMA takes no lock on a hit in the IOTLB; a miss may read the stream's
 * registers under the unit's lock (the backends with registers do), walks the tables without
 * it, then fills the IOTLB under the IOTLB's lock.
 */
package org.dmashare.iommu;
