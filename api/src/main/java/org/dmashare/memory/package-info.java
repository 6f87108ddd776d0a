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
 *   <li><b>page allocator</b>: each {@link org.dmashare.memory.PageAllocator}'s own monitor, held
 *       for every allocation, free, split and query; it guards the free lists, the live blocks and
 *       the byte counts.</li>
 *   <li>{@link org.dmashare.memory.PhysicalMemory} takes no lock: its frames are created with
 *       compare-and-set and read and written with plain array access (like DRAM, concurrent
 *       writes to the same bytes race; callers that need ordering hold their own lock).</li>
 *   <li>{@link org.dmashare.memory.FailureInjector} takes no lock (atomic counters).</li>
 * </ul>
 * <p>Holder ids come from an atomic counter, outside the lock.
 * <p>Order: the page-allocator lock is a leaf, taken last: nothing is locked while it is held
 * and injected failures are checked before it is taken. Page tables take it with their own lock
 * held (a table page is allocated or freed inside a map or unmap), and the sharing helper with
 * its buffer lock held.
 */
package org.dmashare.memory;
