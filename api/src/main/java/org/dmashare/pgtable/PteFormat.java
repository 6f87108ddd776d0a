package org.dmashare.pgtable;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;

/**
 * One hardware page-table format: the geometry of its radix tree and the bit layout of its
 * entries, as the per-format tables of Linux's io-pgtable and generic page-table code. Level 0 is
 * the highest table a walk can start from; level {@code levels() - 1} holds the smallest pages.
 * Implementations are immutable: {@link IoPageTable} calls one format from several threads at
 * once, without a lock, when they map and unmap disjoint ranges of a domain.
 *
 * <p>The abstract methods describe an LPAE-like format (8-byte entries, one granule-sized table
 * per level, single-entry leaves, a fixed root at level 0); the default methods let a format
 * depart from it without the engine's help:
 * <ul>
 *   <li>{@link #entryBytes()}: 4-byte entries (ARM v7s) instead of 8;</li>
 *   <li>{@link #entries(int)} and {@link #tableBytes(int)}: a table size per level, below a
 *       page (v7s's 1 KiB second level, allocated from a sub-page allocator) or several pages (a
 *       16 KiB v7s root);</li>
 *   <li>{@link #leafSizes(int)}, {@link #encodeLeaf(long, long, Prot, int)} and
 *       {@link #leafSize(long, int)}: leaves that span several entries, either replicated with
 *       one value (v7s large pages and supersections, AMD-Vi next-level-7 pages whose size is
 *       encoded in the address bits) or each entry with its own output address (the LPAE
 *       contiguous hint), see {@link #sameAddressInEveryEntry()};</li>
 *   <li>{@link #outputAddress(long, int, long)}: decoding that needs the IOVA;</li>
 *   <li>{@link #startLevel()}: a top that starts below level 0 and grows when a larger IOVA is
 *       mapped (AMD-Vi v1), the unit being told to reprogram its root through a
 *       {@link TopListener};</li>
 *   <li>{@link #unmapPolicy()}: how an unmap that cuts a leaf is treated;</li>
 *   <li>{@link #tableLifetime()}: when an unmap frees the tables it empties.</li>
 * </ul>
 * A format calls {@link #checkGeometry(PteFormat)} at the end of its constructor (the engine
 * calls it again when it builds a table), so a geometry that cannot work is refused with a
 * message instead of writing past the end of a table.
 */
public interface PteFormat {

    /**
     * log2 of the granule (smallest page).
     *
     * @return 12, 14 or 16 for 4, 16 or 64 KiB
     */
    int granuleShift();

    /**
     * Index bits resolved by one full table: log2 of the entries in a granule-sized table.
     *
     * @return 9 for 4 KiB tables, 11 for 16 KiB, 13 for 64 KiB
     */
    int bitsPerLevel();

    /**
     * Number of table levels walked, root included.
     *
     * @return at least 1
     */
    int levels();

    /**
     * IOVA width in bits; IOVAs at or above {@code 2^inputBits()} fault.
     *
     * @return input address bits
     */
    int inputBits();

    /**
     * Physical address width in bits; leaves and tables must lie below {@code 2^outputBits()}.
     *
     * @return output address bits
     */
    int outputBits();

    /**
     * Bitmap of the leaf sizes the format maps (bit n: 2^n bytes). A level holds leaves exactly
     * when the size one of its entries covers is in this bitmap; the last level always does.
     *
     * @return the page-size bitmap
     */
    long pageSizes();

    /**
     * Encodes an entry pointing at a next-level table.
     *
     * @param tablePa the table's physical address, aligned to the granule
     * @param level the level of the table holding this entry
     * @return the entry
     */
    long encodeTable(long tablePa, int level);

    /**
     * Encodes a leaf entry.
     *
     * @param pa output address, aligned to the leaf size
     * @param prot rights, already accepted by {@link #checkProt(Prot)}
     * @param level the level of the table holding this entry
     * @return the entry
     */
    long encodeLeaf(long pa, Prot prot, int level);

    /**
     * Decodes what an entry is at {@code level}.
     *
     * @param pte the raw entry
     * @param level the level of the table holding it
     * @return invalid, table or leaf
     */
    PteKind kind(long pte, int level);

    /**
     * The address an entry holds: a table's physical address or a leaf's output address.
     *
     * @param pte a valid entry
     * @param level the level of the table holding it
     * @return the physical address
     */
    long address(long pte, int level);

    /**
     * The rights a leaf grants.
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @return its rights
     */
    Prot prot(long pte, int level);

    /**
     * First byte of a leaf that devices may access, as an offset into the leaf (sub-page
     * protection, as Apple DART leaves carry). The default: the whole leaf, from offset 0.
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @return the offset of the first accessible byte
     */
    default long windowStart(long pte, int level) {
        return 0;
    }

    /**
     * One past the last byte of a leaf that devices may access, as an offset into the leaf (see
     * {@link #windowStart(long, int)}). The default: the whole leaf, up to its
     * {@link #leafSize(long, int) size}.
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @return the offset one past the last accessible byte
     */
    default long windowEnd(long pte, int level) {
        return leafSize(pte, level);
    }

    /**
     * Refuses rights the format cannot express. The default refuses mappings that allow neither
     * reads nor writes.
     *
     * @param prot requested rights
     * @throws InvalidArgumentException if they cannot be encoded
     */
    default void checkProt(Prot prot) {
        if (!prot.read() && !prot.write()) {
            throw new InvalidArgumentException("a mapping must allow read or write, got " + prot);
        }
    }

    /**
     * log2 of the bytes one entry covers at {@code level}.
     *
     * @param level 0 .. levels()-1
     * @return the shift
     */
    default int shift(int level) {
        return granuleShift() + bitsPerLevel() * (levels() - 1 - level);
    }

    /**
     * Number of entries the table at {@code level} indexes. Below the root it is a full table;
     * the root indexes what remains of the input width (at least one entry).
     *
     * @param level 0 .. levels()-1
     * @return the entry count
     */
    default int entries(int level) {
        if (level > 0) {
            return 1 << bitsPerLevel();
        }
        int bits = inputBits() - shift(0);
        return 1 << Math.max(0, bits);
    }

    /**
     * Whether an entry at {@code level} may be a leaf.
     *
     * @param level 0 .. levels()-1
     * @return true when {@link #leafSizes(int)} is not empty at that level
     */
    default boolean leafAllowed(int level) {
        return leafSizes(level) != 0;
    }

    /**
     * The index of the entry for {@code iova} in the table at {@code level}.
     *
     * @param iova the address
     * @param level 0 .. levels()-1
     * @return the index into that level's table
     */
    default int index(long iova, int level) {
        return (int) ((iova >>> shift(level)) & (entries(level) - 1));
    }

    // ---- geometry and leaf shapes beyond the LPAE-like defaults ----

    /**
     * Bytes per entry: 8 (LPAE, DART, AMD-Vi) or 4 (ARM v7s). The engine reads and writes entries
     * with {@link org.dmashare.memory.PhysicalMemory#readLong} or
     * {@link org.dmashare.memory.PhysicalMemory#readInt} accordingly; a 4-byte entry is handed to
     * the format as an unsigned value in the low 32 bits of a {@code long}.
     *
     * @return 4 or 8; the default is 8
     */
    default int entryBytes() {
        return 8;
    }

    /**
     * Bytes of memory a table at {@code level} occupies: a power of two holding at least
     * {@code entries(level) * entryBytes()}, the table's alignment as well. A table smaller than
     * the granule comes from a sub-page allocator that cuts CPU pages into equal naturally
     * aligned pieces (as v7s's 1 KiB level-2 tables come from a kmem_cache); a larger one is
     * allocated in whole CPU pages (as io-pgtable-arm's tables are), and never smaller than a CPU
     * page. Both are accounted as {@link org.dmashare.memory.PageUse#PAGE_TABLE}.
     *
     * @param level 0 .. levels()-1
     * @return the table size in bytes; the default is the larger of one granule and the
     *     table's entries
     */
    default long tableBytes(int level) {
        return Math.max((long) entries(level) * entryBytes(), 1L << granuleShift());
    }

    /**
     * Bitmap of the leaf sizes a table at {@code level} can hold (bit n: 2^n bytes). A size equal
     * to the bytes one entry covers takes one entry; a larger size takes
     * {@code size >> shift(level)} consecutive entries starting at an index aligned to that count
     * (a replicated or contiguous leaf). The default: the entry's own size, at the last level and
     * at every level whose entry size is in {@link #pageSizes()}.
     *
     * @param level 0 .. levels()-1
     * @return the sizes, a subset of {@link #pageSizes()}; 0 if the level holds no leaves
     */
    default long leafSizes(int level) {
        long own = 1L << shift(level);
        return level == levels() - 1 || (pageSizes() & own) != 0 ? own : 0;
    }

    /**
     * Encodes one entry of a leaf of {@code size} bytes at {@code level}. For a leaf spanning
     * several entries the engine calls this once per entry, with the leaf's output address when
     * {@link #sameAddressInEveryEntry()} is true and with that entry's own output address
     * ({@code pa + i << shift(level)}) otherwise. The default handles single-entry leaves by
     * calling {@link #encodeLeaf(long, Prot, int)}; a format that lists larger sizes in
     * {@link #leafSizes(int)} overrides it.
     *
     * @param pa output address (see above), aligned to the size of one entry
     * @param size the leaf's size, one of {@link #leafSizes(int)} at {@code level}
     * @param prot rights, already accepted by {@link #checkProt(Prot)}
     * @param level the level of the table holding the entry
     * @return the entry
     * @throws UnsupportedOperationException if {@code size} is not one entry's size and the
     *     format did not override this method
     */
    default long encodeLeaf(long pa, long size, Prot prot, int level) {
        if (size != 1L << shift(level)) {
            throw new UnsupportedOperationException(this + " lists a " + Hex.size(size) + " leaf at level " + level
                    + " but does not override encodeLeaf(pa, size, prot, level) to encode it");
        }
        return encodeLeaf(pa, prot, level);
    }

    /**
     * Whether every entry of a multi-entry leaf holds the leaf's first output address (v7s large
     * pages and supersections, AMD-Vi next-level-7 pages) rather than its own slice of the leaf
     * (the LPAE contiguous hint).
     *
     * @return true by default
     */
    default boolean sameAddressInEveryEntry() {
        return true;
    }

    /**
     * Bytes the leaf that {@code pte} belongs to maps: one entry's size unless the entry says it
     * is part of a larger leaf (a v7s contiguous bit, an AMD-Vi size code, an LPAE contiguous
     * hint).
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @return the leaf's size, a power of two at least {@code 1 << shift(level)}
     */
    default long leafSize(long pte, int level) {
        return 1L << shift(level);
    }

    /**
     * The physical address {@code iova} translates to through the leaf {@code pte}: the leaf's
     * first output address plus the IOVA's offset in the whole leaf (not in one entry). The
     * default aligns {@link #address(long, int)} down to {@link #leafSize(long, int)}, which is
     * right for replicated leaves and for contiguous runs whose entries each hold their own
     * slice.
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @param iova the address being translated, inside the leaf
     * @return the physical address
     */
    default long outputAddress(long pte, int level, long iova) {
        long size = leafSize(pte, level);
        return (address(pte, level) & -size) | (iova & (size - 1));
    }

    /**
     * The level of the top table a new page table starts with. 0 (the default) is a fixed top;
     * a larger value starts smaller and grows one level at a time, toward 0, when a map needs a
     * larger IOVA or a leaf above the current top (AMD-Vi v1: mode 3 at first, up to the unit's
     * largest mode). Each new top points at the old one through its entry 0.
     *
     * @return 0 .. levels()-1
     */
    default int startLevel() {
        return 0;
    }

    /**
     * What an unmap does with a leaf it would cut.
     *
     * @return {@link UnmapPolicy#REFUSE_CUT} by default
     */
    default UnmapPolicy unmapPolicy() {
        return UnmapPolicy.REFUSE_CUT;
    }

    /**
     * When an unmap frees a table below the top, as the format's Linux code does.
     *
     * @return {@link TableLifetime#WHOLE_BLOCK} (io-pgtable-arm's rule) by default
     */
    default TableLifetime tableLifetime() {
        return TableLifetime.WHOLE_BLOCK;
    }

    /**
     * Checks that a format's geometry can work, so that nothing is ever written past the end of a
     * table and every advertised page size can be produced. Formats call it at the end of their
     * constructor; {@link IoPageTable} calls it again.
     *
     * <p>It checks: 4- or 8-byte entries; at least one level; a granule of 2^10 .. 2^30 bytes;
     * input and output widths of 12 .. 64 bits; per level, a power-of-two entry count and a
     * power-of-two table size that holds them; each table below the top covering exactly one
     * entry of the table above; the top covering the whole input width; the last level's entry
     * equal to the granule; a start level inside the levels; every size in
     * {@link #pageSizes()} producible at some level, every level's leaf sizes in
     * {@link #pageSizes()} and spanning at most one table; and the output width reaching at
     * least one page of every advertised size (encoding the largest aligned address below
     * 2^outputBits as a leaf of that size must decode back to it).
     *
     * @param f the format
     * @throws InvalidArgumentException naming the first rule the geometry breaks, what it found
     *     and what would be accepted
     * @throws NullPointerException if {@code f} is null
     */
    static void checkGeometry(PteFormat f) {
        GeometryCheck.check(f);
    }
}
