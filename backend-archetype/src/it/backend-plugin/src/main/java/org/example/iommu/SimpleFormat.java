package org.example.iommu;

import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;

/**
 * The page-table entry format: one level of 8192 little-endian 64-bit entries in one 64 KiB page,
 * so 2^29 bytes (512 MiB) of IOVA. Bit 0 valid, bit 1 read, bit 2 write, bit 3 cacheable,
 * bit 4 no-exec, bits [39:16] the page's physical address.
 */
public final class SimpleFormat implements PteFormat {
    static final int PAGE_SHIFT = 16;
    static final int INPUT_BITS = 29;
    static final int OUTPUT_BITS = 40;
    private static final long VALID = 1, READ = 1 << 1, WRITE = 1 << 2, CACHE = 1 << 3, NOEXEC = 1 << 4;
    private static final long ADDRESS = ((1L << OUTPUT_BITS) - 1) & -(1L << PAGE_SHIFT);

    @Override public int granuleShift() { return PAGE_SHIFT; }
    @Override public int bitsPerLevel() { return PAGE_SHIFT - 3; }
    @Override public int levels() { return 1; }
    @Override public int inputBits() { return INPUT_BITS; }
    @Override public int outputBits() { return OUTPUT_BITS; }
    @Override public long pageSizes() { return 1L << PAGE_SHIFT; }

    @Override
    public long encodeTable(long tablePa, int level) {
        throw new UnsupportedOperationException("a single-level format has no table entries");
    }

    @Override
    public long encodeLeaf(long pa, Prot prot, int level) {
        return (pa & ADDRESS) | VALID | (prot.read() ? READ : 0) | (prot.write() ? WRITE : 0)
                | (prot.cache() ? CACHE : 0) | (prot.noExec() ? NOEXEC : 0);
    }

    @Override
    public PteKind kind(long pte, int level) {
        return (pte & VALID) != 0 ? PteKind.LEAF : PteKind.INVALID;
    }

    @Override
    public long address(long pte, int level) {
        return pte & ADDRESS;
    }

    @Override
    public Prot prot(long pte, int level) {
        return new Prot((pte & READ) != 0, (pte & WRITE) != 0, (pte & CACHE) != 0, (pte & NOEXEC) != 0);
    }
}
