package org.dmashare.v7s;

import static org.assertj.core.api.Assertions.assertThat;

import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The worked vectors of reference/pgtable-formats.md section 1.11, written by the engine into
 * memory and read back as raw 32-bit descriptors: every entry of a replicated leaf, the level-1
 * pointer to the level-2 table, and the hardware walk's decode.
 */
class V7sReferenceVectorsTest {
    private static final Prot RW = Prot.READ_WRITE;
    private static final Prot RW_NX_CACHE = Prot.READ_WRITE.withNoExec().withCache();

    /** All of the 32-bit physical space, so that every vector's PA is inside memory. */
    private static PhysicalMemory memory() {
        return PhysicalMemory.create(0, 1L << 32, 4096);
    }

    private static Prot prot(String name) {
        switch (name) {
            case "RW":
                return RW;
            case "R":
                return Prot.READ;
            case "RW_NX_CACHE":
                return RW_NX_CACHE;
            case "R_CACHE":
                return Prot.READ.withCache();
            default:
                throw new IllegalArgumentException(name);
        }
    }

    private static long l1(PhysicalMemory m, IoPageTable t, long iova) {
        return m.readInt(t.rootPa() + 4 * (iova >>> 20)) & 0xFFFF_FFFFL;
    }

    @ParameterizedTest(name = "#{0}: {3} at IOVA {1} -> PA {2} is {6} in {5} level-2 entries")
    @CsvSource({
        "1, 0x00000000, 0x00000000, 0x1000, RW, 1, 0x00000C72",
        "1, 0x00000000, 0x00000000, 0x1000, RW_NX_CACHE, 1, 0x00000C7F",
        "2, 0x12345000, 0x87654000, 0x1000, R, 1, 0x87654E72",
        "4b, 0x00003000, 0x00103000, 0x1000, RW, 1, 0x00103C72",
        "5, 0x01000000, 0x01000000, 0x10000, RW_NX_CACHE, 16, 0x01009C3D",
        "5w, 0x01000000, 0x01000000, 0x10000, RW, 16, 0x01001C31",
        "6, 0x00AB0000, 0x3CD50000, 0x10000, R_CACHE, 16, 0x3CD51E3D",
    })
    void level2VectorsAreBitExact(String id, long iova, long pa, long size, String prot, int copies, long expected) {
        PhysicalMemory m = memory();
        try (IoPageTable t = new IoPageTable(m, new V7sFormat(false))) {
            t.map(iova, pa, size, prot(prot));
            long pointer = l1(m, t, iova);
            assertThat(pointer & 0x3FF)
                    .as("level-1 slot holds a table pointer T | 0x001")
                    .isEqualTo(1);
            long table = pointer & ~0x3FFL;
            assertThat(t.tablePages())
                    .as("the level-2 table is one of the table's own, 1 KiB")
                    .contains(table);
            assertThat(t.tableBytes(table)).isEqualTo(1024);
            int first = (int) ((iova >>> 12) & 0xFF);
            for (int i = 0; i < 256; i++) {
                long pte = m.readInt(table + 4L * i) & 0xFFFF_FFFFL;
                boolean inside = i >= first && i < first + copies;
                assertThat(pte).as("level-2 entry %#x", i).isEqualTo(inside ? expected : 0);
            }
        }
    }

    @ParameterizedTest(name = "#{0}: {3} at IOVA {1} -> PA {2} is {6} in {5} level-1 entries")
    @CsvSource({
        "7, 0x80100000, 0x9AB00000, 0x100000, RW, false, 1, 0x9AB31C02",
        "8, 0x02000000, 0x02000000, 0x100000, RW_NX_CACHE, true, 1, 0x020B1C1E",
        "8w, 0x02000000, 0x02000000, 0x100000, RW, true, 1, 0x020B1C02",
        "9, 0xFF000000, 0x5E000000, 0x1000000, R, false, 16, 0x5E079C02",
        "10, 0x03000000, 0x03000000, 0x1000000, RW_NX_CACHE, true, 16, 0x030F1C1E",
        "10w, 0x03000000, 0x03000000, 0x1000000, RW, true, 16, 0x030F1C02",
    })
    void level1VectorsAreBitExact(
            String id, long iova, long pa, long size, String prot, boolean ns, int copies, long expected) {
        PhysicalMemory m = memory();
        try (IoPageTable t = new IoPageTable(m, new V7sFormat(ns))) {
            t.map(iova, pa, size, prot(prot));
            int first = (int) (iova >>> 20);
            for (int i = 0; i < 4096; i++) {
                long pte = m.readInt(t.rootPa() + 4L * i) & 0xFFFF_FFFFL;
                assertThat(pte).as("level-1 entry %#x", i).isEqualTo(i >= first && i < first + copies ? expected : 0);
            }
            assertThat(t.tablePages()).as("sections need no level-2 table").containsExactly(t.rootPa());
        }
    }

    @Test
    void tablePointerCarriesNsTableUnderTheNsQuirk() {
        PhysicalMemory m = memory();
        try (IoPageTable t = new IoPageTable(m, new V7sFormat(true))) {
            t.map(0x0020_0000L, 0x0030_0000L, 0x1000, RW);
            long pointer = l1(m, t, 0x0020_0000L);
            assertThat(pointer & 0x3FF).as("T | 0x009").isEqualTo(0x009);
        }
    }

    @Test
    void theRootIsSixteenKibAlignedOverFourKibPages() {
        PhysicalMemory m = memory();
        try (IoPageTable t = new IoPageTable(m, new V7sFormat(false))) {
            assertThat(t.rootPa() % 0x4000).isZero();
            assertThat(t.tableBytes(t.rootPa())).isEqualTo(0x4000);
            assertThat(m.allocator().usage().tableBytes()).isEqualTo(0x4000);
        }
        assertThat(m.allocator().usage().tableBytes()).isZero();
    }

    @Test
    void replicatedLeavesDecodeWithTheOffsetInTheWholeLeaf() {
        PhysicalMemory m = memory();
        V7sFormat f = new V7sFormat(false);
        try (IoPageTable t = new IoPageTable(m, f)) {
            t.map(0x00AB0000L, 0x3CD50000L, 0x10000, Prot.READ.withCache());
            t.map(0xFF000000L, 0x5E000000L, 0x1000000, Prot.READ);
            assertThat(t.iovaToPhys(0x00AB7123L)).isEqualTo(0x3CD57123L);
            assertThat(t.iovaToPhys(0xFF9ABCDEL)).isEqualTo(0x5E9ABCDEL);
            var walk = PageTableWalker.walk(m, f, t.rootPa(), 0xFF9ABCDEL);
            assertThat(walk.translation().pageSize()).isEqualTo(V7sFormat.SUPERSECTION);
            assertThat(walk.translation().pa()).isEqualTo(0x5E9ABCDEL);
            assertThat(PageTableWalker.leaves(m, f, t.rootPa()))
                    .as("each replicated leaf listed once")
                    .extracting(tr -> tr.iova() + "->" + tr.pa() + "/" + tr.pageSize())
                    .containsExactly(
                            0x00AB0000L + "->" + 0x3CD50000L + "/" + 0x10000,
                            0xFF000000L + "->" + 0x5E000000L + "/" + 0x1000000);
        }
    }
}
