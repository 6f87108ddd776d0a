/**
 * The per-domain IOVA allocator: top-down first fit below a limit with an alignment argument,
 * reserved ranges, and O(log n) allocation and free however many ranges are live.
 *
 * <h2>Locks</h2>
 * <ul>
 *   <li><b>allocator</b>: each {@link org.dmashare.iova.IovaAllocator}'s own monitor. Without
 *       range caches it is held for the whole of every public method and guards the live and
 *       reserved ranges, the byte count, the tree of free ranges and the cursor its changes reuse
 *       (queries use a cursor of their own). With range caches
 *       ({@link org.dmashare.iova.IovaAllocator#withRangeCaches}) it guards the tree, the cursor,
 *       the reserved ranges and the caches' depot, and is taken by every method but
 *       {@code allocate}, {@code free}, {@code liveRanges} and {@code allocatedBytes}, which take
 *       it only when the calling thread's cache cannot serve them (about one call in a magazine
 *       of 64, or a miss).</li>
 *   <li><b>cache stripe</b> (range caches only): the monitor of each per-CPU-like stripe of
 *       the {@code RangeCaches}, guarding that stripe's magazines; a thread uses the stripe its
 *       model CPU number selects (threads are numbered round-robin on first use).</li>
 *   <li><b>live stripe</b> (range caches only): the monitor of each stripe of the live
 *       allocations, guarding its share of the live ranges and byte count. There are eight per
 *       cache stripe, chosen by a multiplicative hash of the range's granule number, so ranges a
 *       granule apart (which one thread's cache hands out in turn) never share one.
 *       Without range caches there is one such stripe and the allocator lock guards it.</li>
 * </ul>
 * <p>Order: allocator, then a cache stripe or a live stripe; stripes are leaves and no two are
 * held at once. {@code allocate} and {@code free} take a cache stripe and a live stripe one after
 * the other, never nested, and release them before taking the allocator lock. The allocator lock
 * is a leaf to the rest of the library: nothing outside this package is locked while it is held
 * (the failure injector it consults is lock-free), so callers may take it with any of their own
 * locks held; the sharing helper takes it after the buffer lock and the identical-IOVA lock, and
 * never while holding a page table's or a unit's lock (global order: buffer, identical-IOVA lock,
 * IOVA allocator or page table, unit, IOTLB). The free-range tree itself holds no lock and keeps
 * no state between calls beyond the tree: it is only ever called with the allocator lock held.
 *
 * <p>Consistency with range caches: a freed range of a cached size sits in a cache, taken in the
 * tree but counted as free by every query; {@code liveRanges} and {@code allocatedBytes} are
 * exact with respect to every allocation and free that returned before the query began, and every
 * other query first drains the caches into the tree under the allocator lock, so it sees exactly
 * the free space an allocator without caches would.
 */
package org.dmashare.iova;
