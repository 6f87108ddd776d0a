package org.dmashare.amd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.MappingConflictException;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.junit.jupiter.api.Test;

/**
 * The worked vectors of reference/pgtable-formats.md section 2.8, applied in order to one mode-3
 * table. The reference places tables at fixed addresses; here they come from the page allocator,
 * so each table pointer is checked as {@code table | low bits} and followed.
 */
class AmdReferenceVectorsTest {
    private static final long PDE_BITS = 0x6000_0000_0000_0001L; // IR | IW | PR
    private final PhysicalMemory m = PhysicalMemory.create(0, 1L << 34, 4096);
    private final AmdV1Format f = new AmdV1Format(48, 3);

    private long entry(long table, int index) {
        return m.readLong(table + 8L * index);
    }

    /** Asserts the entry is a PDE with NextLevel {@code nl} and returns the table it points at. */
    private long pde(long table, int index, int nl) {
        long pte = entry(table, index);
        assertThat(pte & ~AmdV1Format.ADDRESS_MASK)
                .as("PDE low/high bits at index %#x", index)
                .isEqualTo(PDE_BITS | ((long) nl << 9));
        return pte & AmdV1Format.ADDRESS_MASK;
    }

    @Test
    void vectorsOneToSevenAreBitExactAndTheSeventhGrowsTheTopToModeFour() {
        long[] top = new long[2];
        int[] changes = new int[1];
        try (IoPageTable t = new IoPageTable(m, f, (root, level) -> {
            top[0] = root;
            top[1] = level;
            changes[0]++;
        })) {
            long r0 = t.rootPa();
            assertThat(AmdV1Format.modeOfTop(t.topLevel())).isEqualTo(3);
            // #1: 4K
            t.map(0x12345000L, 0xABCDE000L, 0x1000, Prot.READ_WRITE);
            long l1 = pde(r0, 0x000, 2);
            long l0 = pde(l1, 0x091, 1);
            assertThat(entry(l0, 0x145)).isEqualTo(0x70000000ABCDE001L);
            // #2: 2M, NL 0 at level 1
            t.map(0x40200000L, 0x80000000L, 0x200000, Prot.READ_WRITE);
            long l1b = pde(r0, 0x001, 2);
            assertThat(entry(l1b, 0x001)).isEqualTo(0x7000000080000001L);
            // #3: 16K, four NL-7 entries
            t.map(0x00010000L, 0x12340000L, 0x4000, Prot.READ_WRITE);
            long l0c = pde(l1, 0x000, 1);
            for (int i = 0; i < 4; i++) {
                assertThat(entry(l0c, 0x010 + i)).isEqualTo(0x7000000012341E01L);
            }
            assertThat(entry(l0c, 0x014)).isZero();
            // #4: 64K, sixteen entries
            t.map(0x00060000L, 0x23450000L, 0x10000, Prot.READ_WRITE);
            for (int i = 0; i < 16; i++) {
                assertThat(entry(l0c, 0x060 + i)).isEqualTo(0x7000000023457E01L);
            }
            // #5: 4M, two NL-7 entries at level 1
            t.map(0x00800000L, 0x40000000L, 0x400000, Prot.READ_WRITE);
            assertThat(entry(l1, 0x004)).isEqualTo(0x70000000401FFE01L);
            assertThat(entry(l1, 0x005)).isEqualTo(0x70000000401FFE01L);
            // #6: 1G at level 2
            t.map(0x100000000L, 0x140000000L, 0x40000000L, Prot.READ_WRITE);
            assertThat(entry(r0, 0x004)).isEqualTo(0x7000000140000001L);
            assertThat(changes[0]).as("no growth so far").isZero();
            // #7: 2^39 needs mode 4
            t.map(0x8000000000L, 0x00005000L, 0x1000, Prot.READ_WRITE);
            assertThat(changes[0]).as("the top grew once").isEqualTo(1);
            long newTop = t.rootPa();
            assertThat(top[0]).isEqualTo(newTop);
            assertThat(AmdV1Format.modeOfTop((int) top[1])).isEqualTo(4);
            assertThat(pde(newTop, 0x000, 3))
                    .as("the new top links the old root at index 0")
                    .isEqualTo(r0);
            long a = pde(newTop, 0x001, 3);
            long b = pde(a, 0, 2);
            long c = pde(b, 0, 1);
            assertThat(entry(c, 0)).isEqualTo(0x7000000000005001L);
            // decode checks
            assertThat(t.iovaToPhys(0x00060000L + 0x1234)).isEqualTo(0x23451234L);
            assertThat(t.iovaToPhys(0x12345678L)).isEqualTo(0xABCDE678L);
            assertThat(t.iovaToPhys(0x00BFFFFFL)).isEqualTo(0x403FFFFFL);
        }
    }

    @Test
    void singleValuesAndSizeDecodingMatchTheReference() {
        assertThat(f.encodeLeaf(0xABCDE000L, Prot.READ, 5)).isEqualTo(0x30000000ABCDE001L);
        assertThat(f.encodeLeaf(0xABCDE000L, Prot.WRITE, 5)).isEqualTo(0x50000000ABCDE001L);
        assertThat(f.encodeLeaf(0x2000L, 0x2000L, Prot.READ_WRITE, 5)).isEqualTo(0x7000000000002E01L);
        assertThat(f.encodeLeaf(0x100000L, 0x100000L, Prot.READ_WRITE, 5)).isEqualTo(0x700000000017FE01L);
        assertThat(f.encodeLeaf(0x4000000000L, 1L << 38, Prot.READ_WRITE, 3)).isEqualTo(0x7000005FFFFFFE01L);
        assertThat(f.leafSize(0x7000000023457E01L, 5)).isEqualTo(1L << 16);
        assertThat(f.outputAddress(0x7000000023457E01L, 5, 0x60000L)).isEqualTo(0x23450000L);
        assertThat(f.pageSizes()).as("48-bit unit: 4K..128T except 512G").isEqualTo(0x0000_FF7F_FFFF_F000L);
        assertThat(new AmdV1Format(57, 3).pageSizes())
                .as("57-bit unit: up to bit 51")
                .isEqualTo(0x000F_FF7F_FFFF_F000L);
    }

    @Test
    void unmapStartingInsideALargePageIsRefusedAndAtItsStartRemovesItWhole() {
        try (IoPageTable t = new IoPageTable(m, f)) {
            t.map(0x40200000L, 0x80000000L, 0x200000, Prot.READ_WRITE);
            assertThatThrownBy(() -> t.unmap(0x40201000L, 0x1000))
                    .isInstanceOf(MappingConflictException.class)
                    .hasMessageContaining("starts before it");
            assertThat(t.iovaToPhys(0x40201000L)).isEqualTo(0x80001000L);
            assertThat(t.unmap(0x40200000L, 0x1000))
                    .as("the whole 2 MiB page, counted whole")
                    .isEqualTo(0x200000);
            assertThat(t.iovaToPhys(0x40201000L)).isEqualTo(-1);
        }
    }
}
