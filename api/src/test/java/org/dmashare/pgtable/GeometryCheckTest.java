package org.dmashare.pgtable;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * A format's geometry is checked when it is built, and again by the engine, so that a root that
 * does not fit its table, a page size no level can produce or an output width the encoding cannot
 * hold is refused with a message instead of corrupting memory.
 */
class GeometryCheckTest {

    /** Two levels of 4 KiB granule: a root of 1 MiB entries (blocks or tables), then 4 KiB pages. */
    private static final class Toy implements PteFormat {
        int entryBytes = 8;
        int rootEntries = 1 << 9;
        long rootBytes = 4096;
        long pageSizes = (1L << 12) | (1L << 21);
        long addressMask = 0x0000_FFFF_FFFF_F000L;
        int outputBits = 40;

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
            return 2;
        }

        @Override
        public int inputBits() {
            return 21 + Integer.numberOfTrailingZeros(rootEntries);
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
        public int entryBytes() {
            return entryBytes;
        }

        @Override
        public int entries(int level) {
            return level == 0 ? rootEntries : 512;
        }

        @Override
        public long tableBytes(int level) {
            return level == 0 ? rootBytes : 4096;
        }

        @Override
        public long encodeTable(long tablePa, int level) {
            return (tablePa & addressMask) | 3;
        }

        @Override
        public long encodeLeaf(long pa, Prot prot, int level) {
            return (pa & addressMask) | (level == 0 ? 1 : 3);
        }

        @Override
        public PteKind kind(long pte, int level) {
            long type = pte & 3;
            if (type == 0 || level == 1 && type != 3) {
                return PteKind.INVALID;
            }
            return level == 0 && type == 3 ? PteKind.TABLE : PteKind.LEAF;
        }

        @Override
        public long address(long pte, int level) {
            return pte & addressMask;
        }

        @Override
        public Prot prot(long pte, int level) {
            return Prot.READ_WRITE;
        }

        @Override
        public String toString() {
            return "toy";
        }
    }

    @Test
    void aConsistentFormatIsAccepted() {
        PteFormat.checkGeometry(new Toy());
    }

    @Test
    void aRootWhoseEntriesDoNotFitItsTableIsRefusedBeforeAnythingIsAllocated() {
        Toy toy = new Toy();
        toy.rootEntries = 4096; // 32 KiB of 8-byte entries in a 4 KiB table
        assertThatThrownBy(() -> PteFormat.checkGeometry(toy))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("a level-0 table of 4096 entries of 8 bytes needs 32 KiB (0x8000)")
                .hasMessageContaining("tableBytes(0) is 0x1000");
        PhysicalMemory memory = PhysicalMemory.create(0x8000_0000L, 1L << 24, 4096);
        assertThatThrownBy(() -> new IoPageTable(memory, toy)).isInstanceOf(InvalidArgumentException.class);
        assertThat(memory.allocator().usage().tableBytes()).isZero();
    }

    @Test
    void anAdvertisedPageSizeNoLevelCanProduceIsRefused() {
        Toy toy = new Toy();
        toy.pageSizes = (1L << 12) | (1L << 16) | (1L << 21) | (1L << 24);
        assertThatThrownBy(() -> PteFormat.checkGeometry(toy))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("advertises 0x101_0000 that no level can produce");
    }

    @Test
    void anOutputWidthTheEncodingCannotHoldIsRefused() {
        Toy toy = new Toy();
        toy.addressMask = 0xFFFF_F000L; // 32 address bits for a 40-bit output width
        assertThatThrownBy(() -> PteFormat.checkGeometry(toy))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("the highest below the 40-bit output width");
    }

    @Test
    void entriesOtherThanFourOrEightBytesAreRefused() {
        Toy toy = new Toy();
        toy.entryBytes = 2;
        assertThatThrownBy(() -> PteFormat.checkGeometry(toy))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("entries must be 4 or 8 bytes, got 2");
    }

    @Test
    void aMultiPageRootIsAllocatedWholeAndNaturallyAligned() {
        Toy toy = new Toy();
        toy.rootEntries = 4096;
        toy.rootBytes = 32 * 1024;
        PhysicalMemory memory = PhysicalMemory.create(0x8000_0000L, 1L << 24, 4096);
        try (IoPageTable t = new IoPageTable(memory, toy)) {
            assertThat(t.rootPa() % (32 * 1024)).isZero();
            assertThat(memory.allocator().usage().tableBytes()).isEqualTo(32 * 1024);
            t.map(0, 0x8000_0000L, 1L << 21, Prot.READ_WRITE);
            long last = (4096L << 21) - (1L << 21);
            t.map(last, 0x8020_0000L, 1L << 21, Prot.READ_WRITE);
            assertThat(memory.readLong(t.rootPa() + 8L * 4095))
                    .as("the last root entry, in the root's last page")
                    .isEqualTo(0x8020_0001L);
        }
        assertThat(memory.allocator().usage().tableBytes()).isZero();
    }
}
