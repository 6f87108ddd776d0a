package org.dmashare.examples.flat;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;

/**
 * The entry format of the {@code flat} IOMMU: one level, 64 KiB pages, 64-bit little-endian
 * entries. Bit 0 valid, bit 1 read, bit 2 write, bit 3 cacheable, bit 4 no-exec, bits [39:16] the
 * page's physical address. The table is one 64 KiB page of 8192 entries, so the IOVA space is
 * 2^29 bytes (512 MiB); physical addresses are 40 bits wide. Write-only pages are expressible.
 * Immutable.
 */
public final class FlatFormat implements PteFormat {
    /** log2 of the page size: 64 KiB. */
    public static final int PAGE_SHIFT = 16;
    /** IOVA width: 8192 entries of 64 KiB. */
    public static final int INPUT_BITS = 29;
    /** Largest physical address width. */
    public static final int MAX_OUTPUT_BITS = 40;

    static final long VALID = 1L;
    static final long READ = 1L << 1;
    static final long WRITE = 1L << 2;
    static final long CACHE = 1L << 3;
    static final long NOEXEC = 1L << 4;

    private final int outputBits;
    private final long addressMask;

    /**
     * Creates the format.
     *
     * @param outputBits physical address width, 32..40
     * @throws InvalidArgumentException if out of range
     */
    public FlatFormat(int outputBits) {
        if (outputBits < 32 || outputBits > MAX_OUTPUT_BITS) {
            throw new InvalidArgumentException(
                    "flat IOMMU output size must be 32.." + MAX_OUTPUT_BITS + " bits, got " + outputBits);
        }
        this.outputBits = outputBits;
        this.addressMask = ((1L << outputBits) - 1) & -(1L << PAGE_SHIFT);
    }

    @Override
    public int granuleShift() {
        return PAGE_SHIFT;
    }

    @Override
    public int bitsPerLevel() {
        return PAGE_SHIFT - 3;
    }

    @Override
    public int levels() {
        return 1;
    }

    @Override
    public int inputBits() {
        return INPUT_BITS;
    }

    @Override
    public int outputBits() {
        return outputBits;
    }

    @Override
    public long pageSizes() {
        return 1L << PAGE_SHIFT;
    }

    /**
     * Never called: a single-level table has no table entries.
     *
     * @throws UnsupportedOperationException always
     */
    @Override
    public long encodeTable(long tablePa, int level) {
        throw new UnsupportedOperationException("the flat format has a single level and no table entries");
    }

    @Override
    public long encodeLeaf(long pa, Prot prot, int level) {
        long pte = (pa & addressMask) | VALID;
        pte |= prot.read() ? READ : 0;
        pte |= prot.write() ? WRITE : 0;
        pte |= prot.cache() ? CACHE : 0;
        pte |= prot.noExec() ? NOEXEC : 0;
        return pte;
    }

    @Override
    public PteKind kind(long pte, int level) {
        return (pte & VALID) != 0 ? PteKind.LEAF : PteKind.INVALID;
    }

    @Override
    public long address(long pte, int level) {
        return pte & addressMask;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot((pte & READ) != 0, (pte & WRITE) != 0, (pte & CACHE) != 0, (pte & NOEXEC) != 0);
    }

    @Override
    public String toString() {
        return "flat single-level, page " + Hex.size(1L << PAGE_SHIFT) + ", ias " + INPUT_BITS + ", oas " + outputBits;
    }
}
