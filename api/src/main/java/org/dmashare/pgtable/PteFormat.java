package org.dmashare.pgtable;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;

/**
 * One hardware page-table format: the geometry of its radix tree and the bit layout of its
 * entries, as the per-format tables of Linux's io-pgtable. Level 0 is the root table (the one the
 * translation base register points at); level {@code levels() - 1} holds the smallest pages.
 * Implementations are immutable.
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
     * {@link #windowStart(long, int)}). The default: the whole leaf, up to its size.
     *
     * @param pte a leaf entry
     * @param level the level of the table holding it
     * @return the offset one past the last accessible byte
     */
    default long windowEnd(long pte, int level) {
        return 1L << shift(level);
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
     * @return true for the last level and for levels whose entry size is in {@link #pageSizes()}
     */
    default boolean leafAllowed(int level) {
        return level == levels() - 1 || (pageSizes() & (1L << shift(level))) != 0;
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
}
