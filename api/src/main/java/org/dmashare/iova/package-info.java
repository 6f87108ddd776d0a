/**
 * The per-domain IOVA allocator: top-down first fit below a limit with an alignment argument,
 * reserved ranges, and O(log n) allocation and free however many ranges are live.
 *
 * <h2>Locks</h2>
 * <ul>
 *   <li><b>allocator</b>: each {@link org.dmashare.iova.IovaAllocator}'s own monitor, held for the
 *       whole of every public method. It guards the live and reserved ranges, the byte count, the
 *       tree of free ranges and the cursor its changes reuse (queries use a cursor of their
 *       own).</li>
 * </ul>
 * <p>Order: the allocator lock is a leaf. Nothing is locked while it is held (the failure
 * injector it consults is lock-free), so callers may take it with any of their own locks held;
 * the sharing helper takes it after the buffer lock and the identical-IOVA lock, and never while
 * holding a page table's or a unit's lock (global order: buffer, identical-IOVA lock, IOVA
 * allocator or page table, unit, IOTLB). The free-range tree itself holds no lock and keeps no
 * state between calls beyond the tree: it is only ever called with the allocator lock held.
 */
package org.dmashare.iova;
