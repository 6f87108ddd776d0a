/**
 * The shared radix page-table engine, split as Linux's io-pgtable and generic page-table code
 * are: a {@link org.dmashare.pgtable.PteFormat} per hardware format states its geometry and
 * encodes and decodes entries; {@link org.dmashare.pgtable.IoPageTable} is the software side that
 * builds tables in physical memory; {@link org.dmashare.pgtable.PageTableWalker} is the hardware
 * side that reads them back from memory, starting at whatever a unit's base register holds.
 * Backends supply a format and never touch entry bits themselves.
 *
 * <p>What a format can express: 4- or 8-byte entries; a table size per level, below a page (cut
 * from CPU pages by a sub-page allocator) or several pages; leaves spanning several entries,
 * replicated with one value or each with its own slice of the output (see
 * {@link org.dmashare.pgtable.PteFormat#sameAddressInEveryEntry()}), their size told by the
 * entry; decoding with the IOVA; a top that grows, reported through a
 * {@link org.dmashare.pgtable.TopListener}; an {@link org.dmashare.pgtable.UnmapPolicy}. Every
 * format's geometry is checked when it is built
 * ({@link org.dmashare.pgtable.PteFormat#checkGeometry(PteFormat)}).
 *
 * <p>Locks. Each {@code IoPageTable} has one lock, its own monitor, taken by every method that
 * reads or edits its tables ({@code map}, {@code unmap}, {@code iovaToPhys}, {@code close},
 * {@code tablePages}, {@code tableBytes}). It guards the table bookkeeping (the map of tables and
 * each table's count of valid entries, its parent links), the sub-page allocator's slabs, the
 * closed flag and the scratch buffer. The current top is a volatile field written under the lock
 * and read without it ({@code rootPa()}, {@code topLevel()}), so a unit programming a stream never
 * needs the table's lock. While holding the lock, the engine takes the page allocator's lock
 * (allocating and freeing table memory) and calls the {@code TopListener}, which may take the
 * unit's lock to reprogram roots: the nesting order is table, then unit, then page allocator; a
 * unit must never call into a table's locked methods while holding its own lock. A backend that
 * must make a map and further entry edits atomic (the DART domain's sub-page windows) may hold
 * the table's monitor around them. {@code PageTableWalker} takes no lock: it reads entries with
 * the acquire ordering of {@link org.dmashare.memory.PhysicalMemory}, as a hardware walker reads
 * memory that software writes with release stores.
 */
package org.dmashare.pgtable;
