package org.dmashare.v7s;

import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.pgtable.PteFormat;
import org.dmashare.pgtable.PteKind;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.pgtable.UnmapPolicy;

/**
 * ARM v7 short-descriptor page tables as Linux's io-pgtable-arm-v7s writes them (since 6.13):
 * 4-byte little-endian entries, 32-bit IOVA and output addresses.
 *
 * <p>Geometry, in the engine's levels: level 0 is ARM's L1, 4096 entries in a 16 KiB table (four
 * 4 KiB pages, 16 KiB aligned), each covering 1 MiB: a 1 MiB section, one sixteenth of a 16 MiB
 * supersection (16 identical entries, bit 18 set) or a pointer to an L2 table (bits [1:0] = 01,
 * the table's address in bits [31:10]). Level 1 is ARM's L2, 256 entries in a 1 KiB table cut
 * from a page by the engine's sub-page allocator, each covering 4 KiB: a small page (bit 1 set,
 * XN in bit 0) or one sixteenth of a 64 KiB large page (bits [1:0] = 01, XN moved to bit 15 and
 * TEX to bits [14:12]). Page sizes: 4K|64K|1M|16M ({@code 0x0111_1000}).
 *
 * <p>Attributes, as arm_v7s_prot_to_pte builds them: nG and S always, TEX = 1 (normal memory),
 * AP[0] (access flag) and AP[1] (unprivileged) always, AP[2] (read-only) unless the mapping
 * allows writes, XN for no-exec, B and C for cacheable; with the {@code ns} quirk, NS in bit 19
 * of sections and supersections and NSTable in bit 3 of table pointers. Neither MMIO nor
 * privileged-only mappings are expressible through {@link Prot}, and the MediaTek 34-bit
 * extensions are not modelled.
 *
 * <p>Differences from Linux, on purpose: a mapping without read is refused (Linux silently makes
 * write-only read/write, the descriptors cannot deny reads); a section or supersection mapped
 * over an L2 table that still maps a page is refused like every overwrite (Linux frees the table,
 * live small pages and all, and installs the section; over an empty L2 table both replace it and
 * free it). Unmap refuses to cut a large page, supersection or section
 * ({@link UnmapPolicy#REFUSE_CUT}, Linux 6.13's "partial large IOPTE" refusal). L2 tables live as
 * in Linux ({@link TableLifetime#WHOLE_BLOCK}): __arm_v7s_unmap frees an L2 table only when an
 * unmap at the 1 MiB or 16 MiB level clears its L1 slot, so an unmap covering the whole 1 MiB
 * section range frees it and one that merely empties it keeps it.
 */
public final class V7sFormat implements PteFormat {
    /** 4 KiB small pages. */
    public static final long SMALL = 1L << 12;
    /** 64 KiB large pages: 16 level-2 entries. */
    public static final long LARGE = 1L << 16;
    /** 1 MiB sections. */
    public static final long SECTION = 1L << 20;
    /** 16 MiB supersections: 16 level-1 entries. */
    public static final long SUPERSECTION = 1L << 24;
    /** The page sizes io-pgtable-arm-v7s allows: 4K|64K|1M|16M. */
    public static final long PAGE_SIZES = SMALL | LARGE | SECTION | SUPERSECTION;

    static final long TYPE_MASK = 0b11;
    static final long L1_TYPE_TABLE = 0b01;
    static final long L1_TYPE_SECTION = 0b10;
    static final long L1_SUPERSECTION = 1L << 18;
    static final long L1_NS = 1L << 19;
    static final long L1_NS_TABLE = 1L << 3;
    static final long L1_XN = 1L << 4;
    static final long L2_TYPE_LARGE = 0b01;
    static final long L2_TYPE_SMALL = 0b10;
    static final long L2_SMALL_XN = 1L;
    static final long L2_LARGE_XN = 1L << 15;
    static final long B = 1L << 2;
    static final long C = 1L << 3;
    /** Attribute byte bits, before the per-level shift: AP0, AP1, TEX[2:0], AP2, S, nG. */
    static final long ATTR_AP0 = 1L;

    static final long ATTR_AP1 = 1L << 1;
    static final long ATTR_TEX1 = 1L << 2;
    static final long ATTR_AP2 = 1L << 5;
    static final long ATTR_S = 1L << 6;
    static final long ATTR_NG = 1L << 7;
    static final int L1_ATTR_SHIFT = 10;
    static final int L2_ATTR_SHIFT = 4;
    static final long L1_TABLE_MASK = 0xFFFF_FC00L;
    static final long L1_SECTION_MASK = 0xFFF0_0000L;
    static final long L2_SMALL_MASK = 0xFFFF_F000L;
    static final long L2_LARGE_MASK = 0xFFFF_0000L;

    private final boolean ns;

    /**
     * Creates the format.
     *
     * @param ns the ARM_NS quirk: non-secure bits in sections, supersections and table pointers
     */
    public V7sFormat(boolean ns) {
        this.ns = ns;
        PteFormat.checkGeometry(this);
    }

    /**
     * Whether the ARM_NS quirk is on.
     *
     * @return true if descriptors carry the non-secure bits
     */
    public boolean ns() {
        return ns;
    }

    @Override
    public int granuleShift() {
        return 12;
    }

    /** {@inheritDoc} For v7s, the level-2 table's 8 bits; the root has 12, see {@link #entries}. */
    @Override
    public int bitsPerLevel() {
        return 8;
    }

    @Override
    public int levels() {
        return 2;
    }

    @Override
    public int inputBits() {
        return 32;
    }

    @Override
    public int outputBits() {
        return 32;
    }

    @Override
    public long pageSizes() {
        return PAGE_SIZES;
    }

    @Override
    public int entryBytes() {
        return 4;
    }

    @Override
    public int shift(int level) {
        return level == 0 ? 20 : 12;
    }

    @Override
    public int entries(int level) {
        return level == 0 ? 4096 : 256;
    }

    /** {@inheritDoc} 16 KiB for the root, 1 KiB (below the granule: a sub-page table) for L2. */
    @Override
    public long tableBytes(int level) {
        return level == 0 ? 16 * 1024 : 1024;
    }

    @Override
    public long leafSizes(int level) {
        return level == 0 ? SECTION | SUPERSECTION : SMALL | LARGE;
    }

    @Override
    public long encodeTable(long tablePa, int level) {
        return (tablePa & L1_TABLE_MASK) | L1_TYPE_TABLE | (ns ? L1_NS_TABLE : 0);
    }

    @Override
    public long encodeLeaf(long pa, Prot prot, int level) {
        return encodeLeaf(pa, level == 0 ? SECTION : SMALL, prot, level);
    }

    @Override
    public long encodeLeaf(long pa, long size, Prot prot, int level) {
        long attr = ATTR_NG | ATTR_S | ATTR_TEX1 | ATTR_AP0 | ATTR_AP1 | (prot.write() ? 0 : ATTR_AP2);
        long cache = prot.cache() ? B | C : 0;
        if (level == 0) {
            long pte = (attr << L1_ATTR_SHIFT)
                    | L1_TYPE_SECTION
                    | cache
                    | (prot.noExec() ? L1_XN : 0)
                    | (ns ? L1_NS : 0)
                    | (size == SUPERSECTION ? L1_SUPERSECTION : 0);
            return pte | (pa & L1_SECTION_MASK);
        }
        long small = (attr << L2_ATTR_SHIFT) | L2_TYPE_SMALL | cache | (prot.noExec() ? L2_SMALL_XN : 0);
        if (size == SMALL) {
            return small | (pa & L2_SMALL_MASK);
        }
        // arm_v7s_pte_to_cont: XN from bit 0 to bit 15, TEX from [8:6] to [14:12], type 01.
        long tex = (small >>> 6) & 0b111;
        long large = (small & ~(0b111L << 6) & ~TYPE_MASK)
                | (tex << 12)
                | L2_TYPE_LARGE
                | ((small & L2_SMALL_XN) != 0 ? L2_LARGE_XN : 0);
        return large | (pa & L2_LARGE_MASK);
    }

    @Override
    public PteKind kind(long pte, int level) {
        long type = pte & TYPE_MASK;
        if (type == 0) {
            return PteKind.INVALID;
        }
        return level == 0 && type == L1_TYPE_TABLE ? PteKind.TABLE : PteKind.LEAF;
    }

    @Override
    public long leafSize(long pte, int level) {
        if (level == 0) {
            return (pte & L1_SUPERSECTION) != 0 ? SUPERSECTION : SECTION;
        }
        return (pte & L2_TYPE_SMALL) != 0 ? SMALL : LARGE;
    }

    @Override
    public long address(long pte, int level) {
        if (level == 0) {
            return pte & ((pte & TYPE_MASK) == L1_TYPE_TABLE ? L1_TABLE_MASK : L1_SECTION_MASK);
        }
        return pte & ((pte & L2_TYPE_SMALL) != 0 ? L2_SMALL_MASK : L2_LARGE_MASK);
    }

    @Override
    public Prot prot(long pte, int level) {
        int shift = level == 0 ? L1_ATTR_SHIFT : L2_ATTR_SHIFT;
        boolean write = (pte & (ATTR_AP2 << shift)) == 0;
        boolean cache = (pte & (B | C)) == (B | C);
        long xn = level == 0 ? L1_XN : (pte & L2_TYPE_SMALL) != 0 ? L2_SMALL_XN : L2_LARGE_XN;
        return new Prot(true, write, cache, (pte & xn) != 0);
    }

    /**
     * Refuses mappings without read access: short descriptors have no way to deny reads (Linux
     * silently maps write-only as read/write).
     *
     * @param prot requested rights
     * @throws InvalidArgumentException unless {@code prot} allows read
     */
    @Override
    public void checkProt(Prot prot) {
        if (!prot.read()) {
            throw new InvalidArgumentException("ARM v7s descriptors cannot express " + prot
                    + ": every valid mapping is readable; map READ or READ_WRITE");
        }
    }

    @Override
    public UnmapPolicy unmapPolicy() {
        return UnmapPolicy.REFUSE_CUT;
    }

    /**
     * io-pgtable-arm-v7s's lifetime: an L2 table is freed when one unmap covers its whole 1 MiB
     * (__arm_v7s_unmap clears the L1 slots of a 1 MiB or 16 MiB unmap and frees the tables they
     * pointed at); unmapping its pages one by one leaves it, empty, until then or until the page
     * table is freed (arm_v7s_free_pgtable).
     *
     * @return {@link TableLifetime#WHOLE_BLOCK}
     */
    @Override
    public TableLifetime tableLifetime() {
        return TableLifetime.WHOLE_BLOCK;
    }

    @Override
    public String toString() {
        return "ARM v7s short descriptors, 4 KiB granule, ias 32, oas 32" + (ns ? ", NS" : "") + ", page sizes "
                + Hex.of(PAGE_SIZES);
    }
}
