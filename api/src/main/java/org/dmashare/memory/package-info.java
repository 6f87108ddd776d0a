/**
 * The model of physical memory: a sparse, thread-safe DRAM with little-endian 64-bit access
 * ({@link org.dmashare.memory.PhysicalMemory}), the buddy page allocator that hands out its pages
 * with exact accounting ({@link org.dmashare.memory.PageAllocator}), and the failure injector
 * used to prove that multi-step operations unwind completely
 * ({@link org.dmashare.memory.FailureInjector}).
 */
package org.dmashare.memory;
