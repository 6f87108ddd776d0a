/**
 * The model of physical memory: a sparse, thread-safe DRAM with little-endian 64-bit access
 * ({@link org.dmashare.memory.PhysicalMemory}), the buddy page allocator that hands out its pages
 * with exact accounting and an owner for every page: free, a page table, or held by a holder
 * ({@link org.dmashare.memory.PageAllocator#holding}), which the sharing layer checks before it
 * lets an importer map a page ({@link org.dmashare.memory.PageAllocator}), and the failure injector
 * used to prove that multi-step operations unwind completely
 * ({@link org.dmashare.memory.FailureInjector}).
 *
 * <h2>Locks</h2>
 * <ul>
 *   <li><b>page allocator</b>: each {@link org.dmashare.memory.PageAllocator}'s own monitor guards
 *       the free lists. Without per-CPU page lists it also guards the live blocks and byte counts
 *       and is held for every allocation, free, split and query. With them
 *       ({@link org.dmashare.memory.PhysicalMemory#withPageCaches}) the live blocks and their
 *       counts are striped by address, each <b>live stripe</b> under its own monitor, and each
 *       thread's <b>per-CPU list</b> is under its own monitor: an allocation served by the
 *       thread's list and a free into it take only those two, one after the other, never the
 *       allocator's monitor.</li>
 *   <li>{@link org.dmashare.memory.PhysicalMemory} takes no lock: its frames are created with
 *       compare-and-set and read and written with plain array access (like DRAM, concurrent
 *       writes to the same bytes race; callers that need ordering hold their own lock).</li>
 *   <li>{@link org.dmashare.memory.FailureInjector} takes no lock (atomic counters).</li>
 * </ul>
 * <p>Holder ids come from an atomic counter, outside the lock.
 * <p>Order: the page-allocator lock, then a live stripe or a per-CPU list; a live stripe and a
 * per-CPU list are leaves and never held together. The page-allocator locks are taken last:
 * nothing outside the allocator is locked while they are held, and injected failures are checked
 * before any is taken. Page tables take it with their own lock
 * held (a table page is allocated or freed inside a map or unmap), and the sharing helper with
 * its buffer lock held.
 */
package org.dmashare.memory;
