package org.dmashare.amd;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.pgtable.UnmapPolicy;

/**
 * AMD-Vi v1 host page-table entries (64-bit, little-endian), as Linux's AMD IOMMU driver writes
 * them: PR (bit 0), NextLevel (bits 11:9), address (bits 51:12), FC force-coherent (bit 60, on
 * every leaf), IR (bit 61) and IW (bit 62).
 *
 * <p>Levels: the engine's level {@code e} is Linux's level {@code 5 - e}, so level 5 holds 4 KiB
 * pages and level 0 is the top of a mode-6 table; a table whose top is at Linux level {@code n}
 * runs in mode {@code n + 1}. Every table is one 4 KiB page of 512 entries (the mode-6 top uses
 * the entries the input width needs). A table pointer (PDE) is {@code table | n << 9 | PR | IR |
 * IW}, n being the Linux level of the table holding it. A leaf of the level's own size has
 * NextLevel 0; a size between two levels' (8 KiB .. 1 MiB, 4 MiB .. 512 MiB, ...) is a run of
 * {@code 2^((k - 12) mod 9)} identical entries with NextLevel 7 whose address field holds
 * {@code (pa | (size - 1)) & ~(size / 2)}: the size is found from the lowest zero bit.
 *
 * <p>Page sizes, as Linux advertises them: every power of two from 4 KiB up to the largest the
 * input width and the 52-bit address field allow, except 512 GiB (a hardware erratum). Write-only
 * mappings are expressible; cacheability and no-exec are not (Prot's cache and noExec are
 * accepted and not recorded, as Linux's AMD driver ignores them).
 *
 * <p>Unmap follows Linux's generic page-table code for AMD v1
 * ({@link UnmapPolicy#WHOLE_ENTRY_FROM_START}): an entry whose first byte is in the range is
 * removed whole and counted whole; a range starting inside an entry is refused. Overwrites are
 * refused (the legacy driver silently replaced what was there). Tables live as that code keeps
 * them ({@link TableLifetime#WHOLE_RANGE}): a table is freed when one unmap covers the whole range
 * its entry maps, at any level.
 */
public final class AmdV1Format implements PteFormat {
    /** PR: the entry is present. */
    public static final long PR = 1L;
    /** Shift of the 3-bit NextLevel field. */
    public static final int NEXT_LEVEL_SHIFT = 9;
    /** NextLevel 7: a leaf whose size is encoded in its address bits. */
    public static final long NEXT_LEVEL_SIZED = 7;
    /** FC: force coherent, set on every leaf. */
    public static final long FC = 1L << 60;
    /** IR: reads allowed. */
    public static final long IR = 1L << 61;
    /** IW: writes allowed. */
    public static final long IW = 1L << 62;
    /** The address field, bits 51:12. */
    public static final long ADDRESS_MASK = 0x000F_FFFF_FFFF_F000L;
    /** The largest mode: six levels. */
    public static final int MAX_MODE = 6;

    private final int inputBits;
    private final int startMode;
    private final long pageSizes;

    /**
     * Creates the format.
     *
     * @param inputBits the IOVA width, 32..62; it decides the largest mode (48 bits: mode 4, 57:
     *     mode 5, above: mode 6)
     * @param startMode the mode a new table starts in, 1..{@link #maxMode()} (Linux: 3)
     * @throws InvalidArgumentException if a value is out of range
     */
    public AmdV1Format(int inputBits, int startMode) {
        if (inputBits < 32 || inputBits > 62) {
            throw new InvalidArgumentException(
                    "AMD v1 input width must be 32..62 bits (IOVAs are non-negative longs)," + " got " + inputBits);
        }
        this.inputBits = inputBits;
        int max = modeFor(inputBits);
        if (startMode < 1 || startMode > max) {
            throw new InvalidArgumentException("AMD v1 start mode must be 1.." + max + " for a " + inputBits
                    + "-bit input width, got " + startMode);
        }
        this.startMode = startMode;
        long sizes = 0;
        int largest = Math.min(51, Math.min(inputBits - 1, 12 + 9 * (max - 1) + 8));
        for (int k = 12; k <= largest; k++) {
            sizes |= 1L << k;
        }
        this.pageSizes = sizes & ~(1L << 39);
        PteFormat.checkGeometry(this);
    }

    /**
     * The smallest mode whose table reaches {@code 2^inputBits}.
     *
     * @param inputBits the IOVA width
     * @return 1..6
     */
    public static int modeFor(int inputBits) {
        int mode = 1;
        while (mode < MAX_MODE && 12 + 9 * mode < inputBits) {
            mode++;
        }
        return mode;
    }

    /**
     * The largest mode this format's input width needs.
     *
     * @return 1..6
     */
    public int maxMode() {
        return modeFor(inputBits);
    }

    /**
     * The mode of a table whose top is at the engine's {@code level}.
     *
     * @param level 0..5
     * @return 6 - level
     */
    public static int modeOfTop(int level) {
        return MAX_MODE - level;
    }

    @Override
    public int granuleShift() {
        return 12;
    }

    @Override
    public int bitsPerLevel() {
        return 9;
    }

    @Override
    public int levels() {
        return MAX_MODE;
    }

    @Override
    public int inputBits() {
        return inputBits;
    }

    @Override
    public int outputBits() {
        return 52;
    }

    @Override
    public long pageSizes() {
        return pageSizes;
    }

    @Override
    public int startLevel() {
        return MAX_MODE - startMode;
    }

    @Override
    public long leafSizes(int level) {
        int n = linuxLevel(level);
        if (n == 5) {
            return 0;
        }
        long sizes = 0;
        for (int k = 12 + 9 * n; k <= 12 + 9 * n + 8 && k < 63; k++) {
            sizes |= 1L << k;
        }
        return sizes & pageSizes;
    }

    @Override
    public long encodeTable(long tablePa, int level) {
        return (tablePa & ADDRESS_MASK) | ((long) linuxLevel(level) << NEXT_LEVEL_SHIFT) | PR | IR | IW;
    }

    @Override
    public long encodeLeaf(long pa, Prot prot, int level) {
        return encodeLeaf(pa, 1L << shift(level), prot, level);
    }

    @Override
    public long encodeLeaf(long pa, long size, Prot prot, int level) {
        long bits = PR | FC | (prot.read() ? IR : 0) | (prot.write() ? IW : 0);
        if (size == 1L << shift(level)) {
            return bits | (pa & ADDRESS_MASK);
        }
        return bits | (NEXT_LEVEL_SIZED << NEXT_LEVEL_SHIFT) | ((pa | (size - 1)) & ~(size >>> 1) & ADDRESS_MASK);
    }

    @Override
    public PteKind kind(long pte, int level) {
        if ((pte & PR) == 0) {
            return PteKind.INVALID;
        }
        long next = nextLevel(pte);
        if (next == 0 || next == NEXT_LEVEL_SIZED) {
            return PteKind.LEAF;
        }
        // A PDE must name the level of the table it points at; any other value reads as unmapped,
        // as Linux's walker treats it.
        return next == linuxLevel(level) ? PteKind.TABLE : PteKind.INVALID;
    }

    @Override
    public long leafSize(long pte, int level) {
        if (nextLevel(pte) != NEXT_LEVEL_SIZED) {
            return 1L << shift(level);
        }
        return 1L << (1 + Long.numberOfTrailingZeros(~(pte | 0xFFF)));
    }

    @Override
    public long address(long pte, int level) {
        return pte & ADDRESS_MASK;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot((pte & IR) != 0, (pte & IW) != 0, false, false);
    }

    @Override
    public UnmapPolicy unmapPolicy() {
        return UnmapPolicy.WHOLE_ENTRY_FROM_START;
    }

    /**
     * The lifetime of Linux's generic page-table code, which AMD v1 uses: __unmap_range
     * (drivers/iommu/generic_pt/iommu_pt.h) frees every table whose whole range the unmap covers
     * (pt_item_fully_covered), whatever its level; an unmap covering part of a table clears
     * leaves and keeps it. (The legacy driver, iommu_v1_unmap_pages in
     * drivers/iommu/amd/io_pgtable.c, freed no table on unmap.)
     *
     * @return {@link TableLifetime#WHOLE_RANGE}
     */
    @Override
    public TableLifetime tableLifetime() {
        return TableLifetime.WHOLE_RANGE;
    }

    /** Linux's level number of the engine's {@code level}. */
    static int linuxLevel(int level) {
        return MAX_MODE - 1 - level;
    }

    static long nextLevel(long pte) {
        return (pte >>> NEXT_LEVEL_SHIFT) & 7;
    }

    @Override
    public String toString() {
        return "AMD-Vi v1, ias " + inputBits + " (modes " + startMode + ".." + maxMode() + "), page sizes "
                + Hex.of(pageSizes);
    }
}
