package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PteKind;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bit-exactness of the LPAE stage-1 descriptors against kernel-anchors.md section 7. Every
 * expected value is a hex literal worked out by hand from the field table, not from the code.
 */
class LpaeFormatTest {
    private static final long BASE = 0x8_0000_0000L;
    private static final long ADDRESS_BITS = 0x0000_FFFF_FFFF_F000L;

    private final LpaeFormat fourK = new LpaeFormat(12, 48, 48);

    @Test
    void pageDescriptorAtTheLastLevelIsType11WithAfNgShAndAp1() {
        // 0x8_0000_5000 | type 0b11 | AP[1] 0x40 | SH 0x300 | AF 0x400 | nG 0x800
        assertThat(fourK.encodeLeaf(0x8_0000_5000L, Prot.READ_WRITE, 3)).isEqualTo(0x0000_0008_0000_5F43L);
    }

    @Test
    void readOnlySetsAp2Bit7() {
        assertThat(fourK.encodeLeaf(0x8_0000_5000L, Prot.READ, 3)).isEqualTo(0x0000_0008_0000_5FC3L);
    }

    @Test
    void cacheSetsAttrIndx1() {
        assertThat(fourK.encodeLeaf(0x8_0000_5000L, Prot.READ_WRITE.withCache(), 3))
                .isEqualTo(0x0000_0008_0000_5F47L);
    }

    @Test
    void noExecSetsPxnAndUxnBits53And54() {
        assertThat(fourK.encodeLeaf(0x8_0000_5000L, Prot.READ_WRITE.withNoExec(), 3))
                .isEqualTo(0x0060_0008_0000_5F43L);
        assertThat(fourK.encodeLeaf(0x8_0000_5000L, Prot.READ.withCache().withNoExec(), 3))
                .isEqualTo(0x0060_0008_0000_5FC7L);
    }

    @Test
    void blockDescriptorsAtLevelsOneAndTwoAreType01() {
        // 2 MiB block at table level 2 (ARM L2)
        assertThat(fourK.encodeLeaf(0x8_0020_0000L, Prot.READ_WRITE, 2)).isEqualTo(0x0000_0008_0020_0F41L);
        // 1 GiB block at table level 1 (ARM L1), read-only and cacheable
        assertThat(fourK.encodeLeaf(0x8_4000_0000L, Prot.READ.withCache(), 1)).isEqualTo(0x0000_0008_4000_0FC5L);
    }

    @Test
    void tableDescriptorIsAddressOr11() {
        assertThat(fourK.encodeTable(0x8_0012_3000L, 0)).isEqualTo(0x0000_0008_0012_3003L);
        assertThat(fourK.encodeTable(0x8_0012_3000L, 2)).isEqualTo(0x0000_0008_0012_3003L);
    }

    @Test
    void outputAddressIsMaskedToBits47To12() {
        assertThat(fourK.encodeLeaf(0xFFFF_0000_0000_1000L, Prot.READ_WRITE, 3)).isEqualTo(0x0000_0000_0000_1F43L);
        assertThat(fourK.address(0xFFFF_FFFF_FFFF_FFFFL, 3)).isEqualTo(0x0000_FFFF_FFFF_F000L);
        assertThat(new LpaeFormat(16, 48, 48).address(0xFFFF_FFFF_FFFF_FFFFL, 2))
                .isEqualTo(0x0000_FFFF_FFFF_0000L);
    }

    @Test
    void decodesWhatItEncodes() {
        assertThat(fourK.kind(0x0000_0008_0000_5F43L, 3)).isEqualTo(PteKind.LEAF);
        assertThat(fourK.kind(0x0000_0008_0000_5F41L, 3))
                .as("0b01 is invalid at the last level")
                .isEqualTo(PteKind.INVALID);
        assertThat(fourK.kind(0x0000_0008_0020_0F41L, 2)).isEqualTo(PteKind.LEAF);
        assertThat(fourK.kind(0x0000_0008_0012_3003L, 2)).isEqualTo(PteKind.TABLE);
        assertThat(fourK.kind(0x0000_0008_0012_3002L, 2)).isEqualTo(PteKind.INVALID);
        assertThat(fourK.kind(0, 0)).isEqualTo(PteKind.INVALID);
        assertThat(fourK.prot(0x0000_0008_0000_5FC7L, 3)).isEqualTo(Prot.READ.withCache());
        assertThat(fourK.prot(0x0060_0008_0000_5F43L, 3)).isEqualTo(Prot.READ_WRITE.withNoExec());
        assertThat(fourK.address(0x0060_0008_0000_5F43L, 3)).isEqualTo(0x8_0000_5000L);
    }

    @Test
    void writeOnlyAndNoAccessCannotBeExpressed() {
        assertThatThrownBy(() -> fourK.checkProt(Prot.WRITE))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("-W");
        assertThatThrownBy(() -> fourK.checkProt(new Prot(false, false, true, false)))
                .isInstanceOf(InvalidArgumentException.class);
        fourK.checkProt(Prot.READ);
        fourK.checkProt(Prot.READ_WRITE);
    }

    @Test
    void constructorRejectsOtherGranulesAndWidths() {
        for (int[] bad :
                new int[][] {{13, 48, 48}, {21, 48, 48}, {12, 31, 48}, {12, 49, 48}, {12, 48, 31}, {12, 48, 52}}) {
            assertThatThrownBy(() -> new LpaeFormat(bad[0], bad[1], bad[2]))
                    .isInstanceOf(InvalidArgumentException.class);
        }
    }

    @ParameterizedTest(name = "granule 2^{0}, ias {1}: {2} levels, {3}-entry root")
    @CsvSource({
        // 4 KiB granule, as listed in kernel-anchors section 7
        "12, 32, 3, 4",
        "12, 36, 3, 64",
        "12, 39, 3, 512",
        "12, 40, 4, 2",
        "12, 42, 4, 8",
        "12, 44, 4, 32",
        "12, 48, 4, 512",
        // 16 KiB granule: 11 bits per level
        "14, 32, 2, 128",
        "14, 36, 2, 2048",
        "14, 39, 3, 8",
        "14, 40, 3, 16",
        "14, 48, 4, 2",
        // 64 KiB granule: 13 bits per level
        "16, 32, 2, 8",
        "16, 36, 2, 128",
        "16, 39, 2, 1024",
        "16, 40, 2, 2048",
        "16, 42, 2, 8192",
        "16, 44, 3, 4",
        "16, 48, 3, 64"
    })
    void levelCountAndRootSizeFollowTheInputWidth(int granuleShift, int ias, int levels, int rootEntries) {
        LpaeFormat f = new LpaeFormat(granuleShift, ias, 48);
        assertThat(f.levels()).isEqualTo(levels);
        assertThat(f.entries(0)).isEqualTo(rootEntries);
        assertThat(f.bitsPerLevel()).isEqualTo(granuleShift - 3);
        for (int l = 1; l < levels; l++) {
            assertThat(f.entries(l)).isEqualTo(1 << (granuleShift - 3));
        }
        assertThat(f.shift(levels - 1)).isEqualTo(granuleShift);
        // The root covers exactly the input range.
        assertThat((long) f.entries(0) << f.shift(0)).isEqualTo(1L << ias);
    }

    @ParameterizedTest(name = "granule 2^{0}: leaves {1}")
    @CsvSource({"12, 0x40201000", "14, 0x2004000", "16, 0x20010000"})
    void pageSizesAreGranuleAndBlocksOnly(int granuleShift, String bitmap) {
        long expected = Long.decode(bitmap);
        LpaeFormat f = new LpaeFormat(granuleShift, 48, 48);
        assertThat(f.pageSizes()).isEqualTo(expected);
        for (int l = 0; l < f.levels(); l++) {
            assertThat(f.leafAllowed(l)).as("level %d", l).isEqualTo((expected & (1L << f.shift(l))) != 0);
        }
    }

    @Test
    void tablesInMemoryHoldExactlyTheseDescriptors() {
        PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 32, 4096);
        Iommu iommu = new GenericBackend().create(IommuConfig.of("lpae-4k"), memory);
        IommuDomain domain = iommu.createDomain();
        PagingDomain paging = (PagingDomain) domain;
        // Indexes 1, 2, 3, 4 at levels 0..3.
        long iova = (1L << 39) | (2L << 30) | (3L << 21) | (4L << 12);
        assertThat(iova).isEqualTo(0x0080_8060_4000L);
        domain.map(iova, 0x8_0000_5000L, 0x1000, Prot.READ_WRITE);
        domain.map(iova + 0x1000, 0x8_0000_7000L, 0x1000, Prot.READ);
        long root = paging.table().rootPa();
        long l1 = tableAt(memory, root + 8 * 1);
        long l2 = tableAt(memory, l1 + 8 * 2);
        long l3 = tableAt(memory, l2 + 8 * 3);
        assertThat(memory.readLong(l3 + 8 * 4)).isEqualTo(0x0000_0008_0000_5F43L);
        assertThat(memory.readLong(l3 + 8 * 5)).isEqualTo(0x0000_0008_0000_7FC3L);
        assertThat(memory.readLong(l3 + 8 * 3)).isZero();
        assertThat(memory.readLong(l3 + 8 * 6)).isZero();
        assertThat(memory.readLong(root)).isZero();
        assertThat(paging.table().tablePages()).containsExactlyInAnyOrder(root, l1, l2, l3);
        PageAllocator allocator = memory.allocator();
        for (long t : List.of(root, l1, l2, l3)) {
            assertThat(allocator.allocatedBlocks()).contains(new PageAllocator.Block(t, 4096, PageUse.PAGE_TABLE));
        }
        // A 2 MiB block in the same level-2 table, index 4: 0b01 type.
        domain.map((1L << 39) | (2L << 30) | (4L << 21), 0x8_0020_0000L, 1L << 21, Prot.READ_WRITE);
        assertThat(memory.readLong(l2 + 8 * 4)).isEqualTo(0x0000_0008_0020_0F41L);
        // A 1 GiB block at level-1 index 3, read-only and cacheable.
        domain.map((1L << 39) | (3L << 30), 0x8_4000_0000L, 1L << 30, Prot.READ.withCache());
        assertThat(memory.readLong(l1 + 8 * 3)).isEqualTo(0x0000_0008_4000_0FC5L);
        DmaDevice dev = iommu.device(0);
        dev.attach(domain);
        assertThat(((GenericIommu) iommu).ttbr(0)).isEqualTo(root);
    }

    @Test
    void hardwareWalkRejectsBlocksWhereTheFormatHasNone() {
        PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 32, 4096);
        Iommu iommu = new GenericBackend().create(IommuConfig.of("lpae-4k"), memory);
        PagingDomain domain = (PagingDomain) iommu.createDomain();
        iommu.device(0).attach(domain);
        long root = domain.table().rootPa();
        // A 512 GiB "block" (0b01) at level 0 and a 0b01 entry at level 3 are both invalid.
        memory.writeLong(root + 8 * 2, 0x0000_0000_0000_0F41L);
        assertThat(iommu.walk(0, 2L << 39)).isEmpty();
        domain.map(0x1000, 0x8_0000_5000L, 0x1000, Prot.READ_WRITE);
        long l1 = tableAt(memory, root);
        long l2 = tableAt(memory, l1);
        long l3 = tableAt(memory, l2);
        memory.writeLong(l3 + 8 * 2, 0x0000_0008_0000_6F41L);
        assertThat(iommu.walk(0, 0x2000)).isEmpty();
        assertThat(iommu.walk(0, 0x1000)).map(t -> t.pa()).contains(0x8_0000_5000L);
        // A hand-written page descriptor is honoured bit for bit: read-only, cacheable.
        memory.writeLong(l3 + 8 * 3, 0x0000_0008_0000_7FC7L);
        assertThat(iommu.walk(0, 0x3abc)).hasValueSatisfying(t -> {
            assertThat(t.pa()).isEqualTo(0x8_0000_7abcL);
            assertThat(t.prot()).isEqualTo(Prot.READ.withCache());
            assertThat(t.pageSize()).isEqualTo(0x1000);
        });
    }

    @Test
    void tablesOnSixteenKibCpuPagesAreWholePagesAndAllReturned() {
        PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 32, 16384);
        long before = memory.allocator().usage().tableBytes();
        Iommu iommu = new GenericBackend().create(IommuConfig.of("lpae-4k"), memory);
        PagingDomain domain = (PagingDomain) iommu.createDomain();
        assertThat(domain.table().tablePageBytes()).isEqualTo(16384);
        domain.map(0x40_0000, BASE + 0x100_0000, 0x5000, Prot.READ_WRITE);
        iommu.device(0).attach(domain);
        assertThat(iommu.walk(0, 0x40_4123)).map(t -> t.pa()).contains(BASE + 0x100_4123);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(before + 4 * 16384);
        domain.close();
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(before);
    }

    /** Reads a table descriptor: only the address and type bits 0b11 may be set. */
    private static long tableAt(PhysicalMemory memory, long entryPa) {
        long e = memory.readLong(entryPa);
        assertThat(e & ~ADDRESS_BITS).as("table descriptor at %x", entryPa).isEqualTo(0b11);
        return e & ADDRESS_BITS;
    }
}
