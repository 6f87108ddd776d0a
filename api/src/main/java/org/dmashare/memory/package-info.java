/**
 * The model of physical memory: a sparse, thread-safe DRAM with little-endian 64-bit access
 * ({@link org.dmashare.memory.PhysicalMemory}), the buddy page allocator that hands out its pages
 * with exact accounting ({@link org.dmashare.memory.PageAllocator}), and the failure injector
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
 * <p>Order: the page-allocator lock is a leaf, taken last: nothing is locked while it is held
 * and injected failures are checked before it is taken. Page tables take it with their own lock
 * held (a table page is allocated or freed inside a map or unmap), and the sharing helper with
 * its buffer lock held.
 */
package org.dmashare.memory;
