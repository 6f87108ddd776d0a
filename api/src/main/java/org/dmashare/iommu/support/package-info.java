/**
 * Building blocks for backend authors: {@link org.dmashare.iommu.support.AbstractIommu} holds what
 * every IOMMU unit has (streams, devices, fault log, IOTLB, the device DMA path) and leaves the
 * hardware-specific parts (registers, the walk from a stream's translation base, invalidation) to
 * the backend; {@link org.dmashare.iommu.support.PagingDomain} is a paging domain over the shared
 * {@link org.dmashare.pgtable.IoPageTable} engine. A backend supplies a
 * {@link org.dmashare.pgtable.PteFormat} and a handful of methods.
 *
 * <h2>Locks</h2>
 * <ul>
 *   <li><b>unit</b>: an {@link org.dmashare.iommu.support.AbstractIommu}'s own monitor. Held by
 *       attach and detach (which call the backend's {@code programStream} and
 *       {@code invalidate} with it held), and by whatever the backend guards with it (a DART's
 *       registers); a backend's {@code invalidate}, {@code programStream}, {@code onFault} and
 *       {@code hardwareWalk} may take it themselves (it is re-entrant).</li>
 *   <li><b>fault log</b>: the {@code faults} deque's monitor; held only to add, copy or clear the
 *       log, with nothing nested inside. A fault is logged first and latched into the backend's
 *       error registers ({@code onFault}) after the log's lock is released.</li>
 *   <li><b>devices</b>: a {@link org.dmashare.iommu.support.BaseDomain}'s device set, locked to
 *       rebuild the stream-ID array on attach and detach (inside the unit lock); the array is
 *       published through a volatile field, so flushes read it without a lock.</li>
 *   <li><b>closed</b>: a domain's own monitor, held only to flip its closed flag.</li>
 *   <li><b>IOTLB</b>: the unit's IOTLB monitor, held to fill or invalidate; lookups take no
 *       lock (atomic arrays of concurrent maps). A leaf.</li>
 * </ul>
 * <p>Order: unit, then devices, then IOTLB; fault log and closed are leaves taken alone. The
 * unit lock is never taken while a page table's lock is held by these classes
 * ({@link org.dmashare.iommu.support.PagingDomain}'s map and unmap take only the table's lock),
 * which keeps the global order of {@link org.dmashare.iommu}: buffer, identical-IOVA lock, IOVA
 * allocator or page table, unit, IOTLB.
 */
package org.dmashare.iommu.support;
