package org.dmashare.dart;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;
import org.dmashare.pgtable.TableLifetime;

/**
 * Apple DART page-table entries: 16 KiB granule, 2048-entry (16 KiB) tables, 8-byte little-endian
 * entries, leaves only at the last level (no blocks). An entry is valid when bit 0 is set; whether
 * it points at a table or a page follows from its level alone. Table and page entries use the
 * same address encoding. Every leaf carries a sub-page window: SP_START in bits 63:52 and SP_END
 * in bits 51:40.
 *
 * <p>Geometry: level {@code levels() - 1} is the L2 table (IOVA bits 24:14), the level above the
 * L1 table (bits 35:25) and, in a three-level walk (t8110 four-level mode), level 0 is the L0
 * table (bits 46:36). The number of table levels follows Linux: {@code max(2, ceil((ias - 14) /
 * 11))}.
 *
 * <p><b>Assumption (UNCONFIRMED in the reference):</b> the sub-page unit is 4 bytes and SP_END is
 * inclusive (4096 units of 4 bytes cover 16 KiB; every known writer uses 0..0xfff for the whole
 * page). The hardware is assumed to look at bit 0 alone for validity.
 *
 * <p>Tables live until the page table is freed ({@link TableLifetime#UNTIL_FREED}), as in
 * io-pgtable-dart.
 *
 * <p>Immutable. The two formats are {@link Dart1Format} (t8020) and {@link Dart2Format} (t6000,
 * t8110).
 */
public abstract sealed class DartPteFormat implements PteFormat permits Dart1Format, Dart2Format {
    /** log2 of the 16 KiB granule. */
    public static final int GRANULE_SHIFT = 14;
    /** The granule: 16 KiB. */
    public static final long GRANULE = 1L << GRANULE_SHIFT;
    /** Index bits per table level (2048 entries). */
    public static final int BITS_PER_LEVEL = 11;
    /** Bit 0: the entry is valid. */
    public static final long VALID = 1L;
    /** Shift of the 12-bit SP_START field (first allowed sub-page unit). */
    public static final int SP_START_SHIFT = 52;
    /** Shift of the 12-bit SP_END field (last allowed sub-page unit, inclusive). */
    public static final int SP_END_SHIFT = 40;
    /** Mask of one sub-page field, after shifting. */
    public static final long SP_FIELD_MASK = 0xfff;
    /** Bytes per sub-page unit (assumption: 16 KiB / 4096). */
    public static final int SUBPAGE_UNIT = 4;

    private final int levels;
    private final int inputBits;
    private final int outputBits;

    DartPteFormat(int inputBits, int outputBits) {
        if (inputBits < 32 || inputBits > 47) {
            throw new InvalidArgumentException("DART input address size must be 32..47 bits, got " + inputBits);
        }
        this.inputBits = inputBits;
        this.outputBits = outputBits;
        this.levels = levelsFor(inputBits);
    }

    /**
     * Table levels Linux walks for an input size: 2 up to 36 bits, 3 above.
     *
     * @param inputBits the IOVA width
     * @return 2 or 3
     */
    public static int levelsFor(int inputBits) {
        return Math.max(2, (inputBits - GRANULE_SHIFT + BITS_PER_LEVEL - 1) / BITS_PER_LEVEL);
    }

    /**
     * The same format with another input size (and so possibly another depth).
     *
     * @param inputBits the IOVA width, 32..47
     * @return the format
     * @throws InvalidArgumentException if the width is out of range
     */
    public abstract DartPteFormat withInputBits(int inputBits);

    /**
     * The name of the format: {@code DART1} or {@code DART2}.
     *
     * @return the name
     */
    public abstract String name();

    /**
     * Encodes a physical address into the entry's address field (tables and pages alike).
     *
     * @param pa a 16 KiB-aligned address below 2^outputBits
     * @return the address bits of the entry
     */
    public abstract long encodeAddress(long pa);

    /**
     * Decodes the address field of an entry.
     *
     * @param pte the raw entry
     * @return the physical address
     */
    public abstract long decodeAddress(long pte);

    /**
     * The protection bits this format sets for {@code prot} in a whole-page leaf.
     *
     * @param prot accepted rights
     * @return the bits
     */
    abstract long protBits(Prot prot);

    /**
     * Whether the sub-page window of a leaf is enforced (DART1: unless SP_DIS is set; DART2:
     * always).
     *
     * @param pte a leaf entry
     * @return true if the window restricts access
     */
    public abstract boolean subpageEnforced(long pte);

    /**
     * Clears whatever disables the sub-page check (DART1's SP_DIS); DART2 has nothing to clear.
     *
     * @param pte a leaf entry
     * @return the entry with the check enabled
     */
    abstract long enableSubpage(long pte);

    @Override
    public final int granuleShift() {
        return GRANULE_SHIFT;
    }

    @Override
    public final int bitsPerLevel() {
        return BITS_PER_LEVEL;
    }

    @Override
    public final int levels() {
        return levels;
    }

    @Override
    public final int inputBits() {
        return inputBits;
    }

    @Override
    public final int outputBits() {
        return outputBits;
    }

    @Override
    public final long pageSizes() {
        return GRANULE;
    }

    @Override
    public final long encodeTable(long tablePa, int level) {
        return encodeAddress(tablePa) | VALID;
    }

    /**
     * Encodes a whole-page leaf as Linux does: address, SP_START 0, SP_END 0xfff, valid, and the
     * format's protection bits.
     */
    @Override
    public final long encodeLeaf(long pa, Prot prot, int level) {
        return encodeAddress(pa) | (SP_FIELD_MASK << SP_END_SHIFT) | VALID | protBits(prot);
    }

    @Override
    public final PteKind kind(long pte, int level) {
        if ((pte & VALID) == 0) {
            return PteKind.INVALID;
        }
        return level == levels - 1 ? PteKind.LEAF : PteKind.TABLE;
    }

    @Override
    public final long address(long pte, int level) {
        return decodeAddress(pte);
    }

    /**
     * Whether an entry is valid, as the hardware decides (bit 0).
     *
     * @param pte the raw entry
     * @return true if bit 0 is set
     */
    public static boolean isValid(long pte) {
        return (pte & VALID) != 0;
    }

    /**
     * A leaf with its sub-page window set to bytes {@code [startByte, endByte)} of the page and the
     * check enabled.
     *
     * @param pte a leaf entry
     * @param startByte first allowed byte offset, a multiple of {@link #SUBPAGE_UNIT}
     * @param endByte one past the last allowed byte offset, a multiple of {@link #SUBPAGE_UNIT},
     *     greater than {@code startByte}, at most 16 KiB
     * @return the new entry
     * @throws InvalidArgumentException if the window is empty, misaligned or outside the page
     */
    public final long withSubpage(long pte, long startByte, long endByte) {
        checkWindow(startByte, endByte);
        long first = startByte / SUBPAGE_UNIT;
        long last = endByte / SUBPAGE_UNIT - 1;
        long cleared = pte & ~((SP_FIELD_MASK << SP_START_SHIFT) | (SP_FIELD_MASK << SP_END_SHIFT));
        return enableSubpage(cleared | (first << SP_START_SHIFT) | (last << SP_END_SHIFT));
    }

    /**
     * Refuses a sub-page window the fields cannot express.
     *
     * @param startByte first allowed byte offset
     * @param endByte one past the last allowed byte offset
     * @throws InvalidArgumentException if the window is empty, misaligned or outside the page
     */
    public static void checkWindow(long startByte, long endByte) {
        if (startByte < 0
                || endByte > GRANULE
                || startByte >= endByte
                || startByte % SUBPAGE_UNIT != 0
                || endByte % SUBPAGE_UNIT != 0) {
            throw new InvalidArgumentException("sub-page window [" + Hex.of(startByte) + ", " + Hex.of(endByte)
                    + ") refused: it must be non-empty, inside the 16 KiB page [0x0, 0x4000) and aligned to the "
                    + SUBPAGE_UNIT + "-byte sub-page unit");
        }
    }

    /**
     * First byte offset of the page a leaf lets devices access: 0 when the check is off, else
     * SP_START × 4.
     */
    @Override
    public final long windowStart(long pte, int level) {
        return subpageEnforced(pte) ? ((pte >>> SP_START_SHIFT) & SP_FIELD_MASK) * SUBPAGE_UNIT : 0;
    }

    /**
     * One past the last byte offset of the page a leaf lets devices access: 16 KiB when the check
     * is off, else (SP_END + 1) × 4.
     */
    @Override
    public final long windowEnd(long pte, int level) {
        return subpageEnforced(pte) ? (((pte >>> SP_END_SHIFT) & SP_FIELD_MASK) + 1) * SUBPAGE_UNIT : GRANULE;
    }

    /**
     * io-pgtable-dart's lifetime: dart_unmap_pages only clears leaf entries, and tables are freed
     * with the page table (apple_dart_free_pgtable), so a range mapped again reuses its tables.
     *
     * @return {@link TableLifetime#UNTIL_FREED}
     */
    @Override
    public final TableLifetime tableLifetime() {
        return TableLifetime.UNTIL_FREED;
    }

    @Override
    public String toString() {
        return name() + " PTEs, granule 16 KiB, ias " + inputBits + ", oas " + outputBits + ", " + levels
                + " table levels";
    }
}
