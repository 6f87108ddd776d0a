package org.dmashare.generic;

import static org.assertj.core.api.Assertions.assertThat;

import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.junit.jupiter.api.Test;

/** The LPAE contiguous hint: off by default, and when on, 16 entries each with its own address. */
class LpaeContiguousHintTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 1L << 28, 4096);

    private long leafTable(IoPageTable t, LpaeFormat f, long iova) {
        long table = t.rootPa();
        for (int level = 0; level < f.levels() - 1; level++) {
            table = f.address(memory.readLong(table + 8L * f.index(iova, level)), level);
        }
        return table;
    }

    @Test
    void withTheHintA64KibRangeIsSixteenEntriesEachWithItsOwnAddressAndBit52() {
        LpaeFormat f = new LpaeFormat(12, 48, 48, true);
        long pa = 0x8_0001_0000L;
        try (IoPageTable t = new IoPageTable(memory, f)) {
            t.map(0x10000, pa, 0x10000, Prot.READ_WRITE);
            long table = leafTable(t, f, 0x10000);
            LpaeFormat plain = new LpaeFormat(12, 48, 48);
            for (int i = 0; i < 16; i++) {
                long pte = memory.readLong(table + 8L * (16 + i));
                assertThat(pte)
                        .as("entry %d", 16 + i)
                        .isEqualTo(plain.encodeLeaf(pa + 0x1000L * i, Prot.READ_WRITE, 3) | (1L << 52));
            }
            var walk = PageTableWalker.walk(memory, f, t.rootPa(), 0x1_8123);
            assertThat(walk.translation().pageSize()).isEqualTo(0x10000);
            assertThat(walk.translation().pa()).isEqualTo(pa + 0x8123);
        }
    }

    @Test
    void withoutTheHintTheSameRangeIsSixteenPlainPages() {
        LpaeFormat f = new LpaeFormat(12, 48, 48);
        try (IoPageTable t = new IoPageTable(memory, f)) {
            t.map(0x10000, 0x8_0001_0000L, 0x10000, Prot.READ_WRITE);
            long table = leafTable(t, f, 0x10000);
            for (int i = 0; i < 16; i++) {
                assertThat(memory.readLong(table + 8L * (16 + i)) & (1L << 52)).isZero();
            }
            assertThat(f.pageSizes()).isEqualTo((1L << 12) | (1L << 21) | (1L << 30));
        }
    }

    @Test
    void contiguousSizesPerGranuleFollowTheReference() {
        assertThat(new LpaeFormat(12, 48, 48, true).pageSizes())
                .isEqualTo((1L << 12) | (1L << 16) | (1L << 21) | (1L << 25) | (1L << 30));
        assertThat(new LpaeFormat(14, 48, 48, true).leafSizes(3)).isEqualTo((1L << 14) | (1L << 21));
        assertThat(new LpaeFormat(14, 48, 48, true).leafSizes(2)).isEqualTo((1L << 25) | (1L << 30));
        assertThat(new LpaeFormat(16, 48, 48, true).leafSizes(2)).isEqualTo((1L << 16) | (1L << 21));
        assertThat(new LpaeFormat(16, 48, 48, true).leafSizes(1)).isEqualTo((1L << 29) | (1L << 34));
    }
}
