/**
 * The safe helper: {@link org.dmashare.sharing.DmaSharing} allocates pages aligned to the largest
 * granule of every domain involved and maps them into each domain at one contiguous IOVA range,
 * returning a {@link org.dmashare.sharing.SharedBuffer}; {@link org.dmashare.sharing.ScatterList}
 * describes physical segments for import and inspection; a
 * {@link org.dmashare.sharing.PageLease} is the lending an import needs.
 *
 * <p>A shared buffer guarantees: one contiguous IOVA range per domain translating to its own
 * bytes in order; alignment of every IOVA, physical block and length to the alignment A; no
 * device-reachable byte outside its own blocks; atomic allocation, late sharing and import; safe
 * release (unmap and IOTLB flush everywhere before pages are freed); late sharing into domains
 * whose granule divides A; optionally the same IOVA in every domain; import only of pages the
 * importer was lent, aligned to A, without overlap, pinned until the last holder closes; and use
 * from many threads.
 *
 * <p>Structure: one package-private class, {@code ShareTransaction}, owns the sharing
 * transaction (validation, the alignment decision, reserve IOVA, map, sync, commit or unwind, and
 * unmap, flush, release); {@code SharedBuffer} holds a buffer's state and delegates to it;
 * {@code Pages} counts the references on one holder's blocks; {@code IovaQuarantine} holds freed
 * IOVA ranges when the option is on.
 *
 * <p>Locks, outermost first (a thread holding one may take only those below it):
 * <ol>
 *   <li>a {@code SharedBuffer}'s monitor: guards its mappings, its identical IOVA and its closed
 *       flag; held for the whole of a transaction on that buffer (initial mapping, late sharing,
 *       unsharing, close, export);
 *   <li>a {@code PageLease}'s monitor: guards its closed flag; held while it takes a reference for
 *       an importer;
 *   <li>the helper's identical-IOVA lock (in {@code ShareTransaction}): held from the search for a
 *       range free in every domain to its reservation in all of them, so two identical-IOVA
 *       allocations do not keep taking each other's range;
 *   <li>a {@code Pages} monitor: guards its reference count only; never held while freeing (the
 *       last release frees the blocks after leaving it);
 *   <li>the {@code IovaQuarantine} monitor: guards the per-domain queues; never held while calling
 *       an IOVA allocator;
 *   <li>the domain, IOVA allocator, page allocator and IOMMU locks, in the order their packages
 *       document; this package takes them only through their public methods, one at a time.
 * </ol>
 * No lock of this package is taken while a device accesses memory, and no callback runs under
 * one. A close holds only the closing buffer's own monitor (then, briefly, its pages' and the
 * allocators'), so it never waits on another buffer.
 */
package org.dmashare.sharing;
