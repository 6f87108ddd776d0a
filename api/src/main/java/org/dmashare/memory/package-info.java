/**
 * The model of physical memory: a sparse, thread-safe DRAM with little-endian 64-bit access
 * ({@link org.dmashare.memory.PhysicalMemory}), the buddy page allocator that hands out its pages
 * with exact accounting and an owner for every page: free, a page table, or held by a holder
 * ({@link org.dmashare.memory.PageAllocator#holding}), which the sharing layer checks before it
 * lets an importer map a page ({@link org.dmashare.memory.PageAllocator}), and the failure injector
 * used to prove that multi-step operations unwind completely
 * ({@link org.dmashare.memory.FailureInjector}).
 *
 * <p>Locks: {@code PageAllocator} synchronizes on itself for its free lists, live blocks and
 * counters (a leaf lock: it calls out only to the failure injector, before taking it); holder ids
 * come from an atomic counter. {@code PhysicalMemory} reads and writes without locks.
 */
package org.dmashare.memory;
