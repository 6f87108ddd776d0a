package org.dmashare.generic;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;
import org.dmashare.pgtable.TableLifetime;

/**
 * ARM LPAE stage-1 descriptors as io-pgtable-arm writes them (64-bit, little-endian):
 * bits [1:0] type (0b11 table or page, 0b01 block), [4:2] AttrIndx (1 = cacheable write-back,
 * 0 = non-cacheable), bit 6 AP[1] (unprivileged, always set), bit 7 AP[2] (read-only),
 * [9:8] SH (inner shareable), bit 10 AF, bit 11 nG, [47:granule] output address, bits 53 and 54
 * PXN/UXN for no-exec.
 *
 * <p>Stage 1 cannot express write-only access; Linux silently grants read as well, this model
 * refuses such a mapping instead. Levels = ceil((ias - granuleShift) / (granuleShift - 3)).
 *
 * <p>The contiguous hint (bit 52), off by default so that descriptors stay those mainline
 * io-pgtable-arm writes: when on, a run of entries that together map one naturally aligned range
 * each carry their own output address and the hint, as Linux's generic ARMv8 format
 * (armv8pt_contig_count_lg2) writes them: 16 entries with the 4 KiB granule (64 KiB pages and
 * 32 MiB blocks; the 16 GiB run at the 1 GiB level is not offered, its use being unconfirmed),
 * 128 entries of 16 KiB (2 MiB) and 32 of 32 MiB (1 GiB) with the 16 KiB granule, 32 entries
 * with the 64 KiB granule (2 MiB and 16 GiB).
 *
 * <p>Tables live as io-pgtable-arm keeps them ({@link TableLifetime#WHOLE_BLOCK}).
 */
public final class LpaeFormat implements PteFormat {
    static final long TYPE_MASK = 0b11;
    static final long TYPE_TABLE = 0b11;
    static final long TYPE_PAGE = 0b11;
    static final long TYPE_BLOCK = 0b01;
    static final long ATTR_IDX_CACHE = 1L << 2;
    static final long ATTR_IDX_MASK = 0b111L << 2;
    static final long AP_UNPRIV = 1L << 6;
    static final long AP_RDONLY = 1L << 7;
    static final long SH_INNER = 0b11L << 8;
    static final long AF = 1L << 10;
    static final long NG = 1L << 11;
    static final long PXN = 1L << 53;
    static final long UXN = 1L << 54;
    static final long CONTIGUOUS = 1L << 52;

    private final int granuleShift;
    private final int inputBits;
    private final int outputBits;
    private final int levels;
    private final long pageSizes;
    private final long addressMask;
    private final boolean contiguous;

    /**
     * Creates the format without the contiguous hint.
     *
     * @param granuleShift 12, 14 or 16
     * @param inputBits IOVA width, 32..48
     * @param outputBits physical address width, 32..48
     * @throws InvalidArgumentException if a value is out of range
     */
    public LpaeFormat(int granuleShift, int inputBits, int outputBits) {
        this(granuleShift, inputBits, outputBits, false);
    }

    /**
     * Creates the format.
     *
     * @param granuleShift 12, 14 or 16
     * @param inputBits IOVA width, 32..48
     * @param outputBits physical address width, 32..48
     * @param contiguous whether map uses contiguous-hint runs (see the class comment)
     * @throws InvalidArgumentException if a value is out of range
     */
    public LpaeFormat(int granuleShift, int inputBits, int outputBits, boolean contiguous) {
        if (granuleShift != 12 && granuleShift != 14 && granuleShift != 16) {
            throw new InvalidArgumentException("LPAE granule must be 4, 16 or 64 KiB, got 2^" + granuleShift);
        }
        if (inputBits < 32 || inputBits > 48 || outputBits < 32 || outputBits > 48) {
            throw new InvalidArgumentException("LPAE input and output address sizes must be 32..48 bits, got ias "
                    + inputBits + ", oas " + outputBits);
        }
        this.granuleShift = granuleShift;
        this.inputBits = inputBits;
        this.outputBits = outputBits;
        int bits = granuleShift - 3;
        this.levels = (inputBits - granuleShift + bits - 1) / bits;
        this.contiguous = contiguous;
        this.pageSizes = pageSizesFor(granuleShift) | (contiguous ? contiguousSizesFor(granuleShift) : 0);
        this.addressMask = ((1L << 48) - 1) & -(1L << granuleShift);
        PteFormat.checkGeometry(this);
    }

    /**
     * The contiguous-hint sizes of a granule: 64K|32M, 2M|1G or 2M|16G.
     *
     * @param granuleShift 12, 14 or 16
     * @return the bitmap
     */
    static long contiguousSizesFor(int granuleShift) {
        switch (granuleShift) {
            case 12:
                return (1L << 16) | (1L << 25);
            case 14:
                return (1L << 21) | (1L << 30);
            default:
                return (1L << 21) | (1L << 34);
        }
    }

    /**
     * Whether map uses contiguous-hint runs.
     *
     * @return true if the hint is on
     */
    public boolean contiguous() {
        return contiguous;
    }

    @Override
    public long leafSizes(int level) {
        long own = 1L << shift(level);
        if ((pageSizesFor(granuleShift) & own) == 0) {
            return 0;
        }
        long run = contiguous ? contiguousSizesFor(granuleShift) : 0;
        long hint = 0;
        for (long rest = run; rest != 0; rest &= rest - 1) {
            long size = Long.lowestOneBit(rest);
            if (size > own
                    && size / own <= entries(level)
                    && size >>> shift(level) <= 128
                    && (size >>> bitsPerLevel()) < own) {
                hint |= size;
            }
        }
        return own | hint;
    }

    @Override
    public boolean sameAddressInEveryEntry() {
        return false;
    }

    /**
     * io-pgtable-arm's lifetime: __arm_lpae_unmap frees a table (and the tables below it) only
     * when it is handed an unmap of the block size of the entry pointing at it, which Linux's
     * IOMMU core does when the range covers that whole block and the block size is a page size;
     * an unmap of the pages inside clears them and keeps the table, and a table below a level
     * without blocks (the top of a 4 KiB-granule, 48-bit table) is freed only with the page table
     * (arm_lpae_free_pgtable).
     *
     * @return {@link TableLifetime#WHOLE_BLOCK}
     */
    @Override
    public TableLifetime tableLifetime() {
        return TableLifetime.WHOLE_BLOCK;
    }

    @Override
    public long encodeLeaf(long pa, long size, Prot prot, int level) {
        long pte = encodeLeaf(pa, prot, level);
        return size == 1L << shift(level) ? pte : pte | CONTIGUOUS;
    }

    @Override
    public long leafSize(long pte, int level) {
        long own = 1L << shift(level);
        if ((pte & CONTIGUOUS) == 0) {
            return own;
        }
        for (long rest = contiguousSizesFor(granuleShift); rest != 0; rest &= rest - 1) {
            long size = Long.lowestOneBit(rest);
            if (size > own && (size >>> bitsPerLevel()) < own) {
                return size;
            }
        }
        return own;
    }

    /**
     * The page sizes io-pgtable-arm allows with a granule: 4K|2M|1G, 16K|32M or 64K|512M.
     *
     * @param granuleShift 12, 14 or 16
     * @return the bitmap
     */
    static long pageSizesFor(int granuleShift) {
        switch (granuleShift) {
            case 12:
                return (1L << 12) | (1L << 21) | (1L << 30);
            case 14:
                return (1L << 14) | (1L << 25);
            default:
                return (1L << 16) | (1L << 29);
        }
    }

    @Override
    public int granuleShift() {
        return granuleShift;
    }

    @Override
    public int bitsPerLevel() {
        return granuleShift - 3;
    }

    @Override
    public int levels() {
        return levels;
    }

    @Override
    public int inputBits() {
        return inputBits;
    }

    @Override
    public int outputBits() {
        return outputBits;
    }

    @Override
    public long pageSizes() {
        return pageSizes;
    }

    @Override
    public long encodeTable(long tablePa, int level) {
        return (tablePa & addressMask) | TYPE_TABLE;
    }

    @Override
    public long encodeLeaf(long pa, Prot prot, int level) {
        long pte = (pa & addressMask) | (level == levels - 1 ? TYPE_PAGE : TYPE_BLOCK);
        pte |= AF | NG | SH_INNER | AP_UNPRIV;
        if (prot.read() && !prot.write()) {
            pte |= AP_RDONLY;
        }
        if (prot.cache()) {
            pte |= ATTR_IDX_CACHE;
        }
        if (prot.noExec()) {
            pte |= PXN | UXN;
        }
        return pte;
    }

    @Override
    public PteKind kind(long pte, int level) {
        long type = pte & TYPE_MASK;
        if (level == levels - 1) {
            return type == TYPE_PAGE ? PteKind.LEAF : PteKind.INVALID;
        }
        if (type == TYPE_TABLE) {
            return PteKind.TABLE;
        }
        return type == TYPE_BLOCK ? PteKind.LEAF : PteKind.INVALID;
    }

    @Override
    public long address(long pte, int level) {
        return pte & addressMask;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot(
                true, (pte & AP_RDONLY) == 0, (pte & ATTR_IDX_MASK) == ATTR_IDX_CACHE, (pte & (PXN | UXN)) != 0);
    }

    /**
     * Refuses mappings without read access: stage-1 descriptors have no way to deny reads.
     *
     * @param prot requested rights
     * @throws InvalidArgumentException unless {@code prot} allows read
     */
    @Override
    public void checkProt(Prot prot) {
        if (!prot.read()) {
            throw new InvalidArgumentException("LPAE stage-1 descriptors cannot express " + prot
                    + ": every valid mapping is readable; map READ or READ_WRITE");
        }
    }

    @Override
    public String toString() {
        return "LPAE stage-1, granule " + Hex.size(1L << granuleShift) + ", ias " + inputBits + ", oas " + outputBits
                + ", " + levels + " levels" + (contiguous ? ", contiguous hint" : "");
    }
}
