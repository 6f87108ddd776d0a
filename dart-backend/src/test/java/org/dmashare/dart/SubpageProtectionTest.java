package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Sub-page windows: encoding in SP_START/SP_END (and SP_DIS), and enforcement on every access. */
class SubpageProtectionTest {

    @Test
    void dart1WindowClearsSpDisAndSetsStartAndInclusiveEndInFourByteUnits() {
        PhysicalMemory memory = Darts.memory();
        DartDomain d = (DartDomain) Darts.dart("t8020", memory).createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE, 0x100, 0x200);
        long pte = memory.readLong(d.leafEntryAddress(0x4000));
        // SP_START = 0x100/4 = 0x40, SP_END = 0x200/4 - 1 = 0x7f, SP_DIS clear, VALID set.
        assertThat(pte).isEqualTo((0x40L << 52) | (0x7FL << 40) | 0x8_0000_8000L | 0x1);
    }

    @Test
    void dart2WindowOnlyChangesTheSubpageFields() {
        PhysicalMemory memory = Darts.memory();
        DartDomain d = (DartDomain) Darts.dart("t6000", memory).createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ, 0, 0x4000);
        assertThat(memory.readLong(d.leafEntryAddress(0x4000))).isEqualTo(0x000F_FF00_8000_0807L);
        d.map(0x8000, 0x8_0000_8000L, 0x4000, Prot.READ, 0x3ffc, 0x4000);
        assertThat(memory.readLong(d.leafEntryAddress(0x8000)))
                .isEqualTo((0xFFFL << 52) | (0xFFFL << 40) | 0x8000_0807L);
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void accessOutsideTheWindowFaultsWithTheSubpageError(String variant) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(variant, memory);
        DartDomain d = (DartDomain) dart.createDomain();
        long pa = Darts.dataPage(memory, (byte) 0x11);
        d.map(0x20_0000, pa, 0x4000, Prot.READ_WRITE, 0x1000, 0x2000);
        DmaDevice dev = dart.device(3);
        dev.attach(d);

        assertThat(dev.read(0x20_1000, 0x1000)).containsOnly((byte) 0x11);
        dev.write(0x20_1ffc, new byte[] {1, 2, 3, 4});
        assertThat(dart.walk(3, 0x20_1000))
                .hasValueSatisfying(t -> assertThat(t.hasSubpageWindow()).isTrue());

        IommuFault below = Darts.faultOf(() -> dev.read(0x20_0ffc, 4));
        assertThat(below.reason()).isEqualTo(IommuFault.Reason.SUBPAGE);
        assertThat(below.code()).isEqualTo("SUBPAGE_PROT");
        IommuFault straddling = Darts.faultOf(() -> dev.write(0x20_1ffc, new byte[8]));
        assertThat(straddling.code()).isEqualTo("SUBPAGE_PROT");
        assertThat(memory.read(pa + 0x2000, 4))
                .as("nothing written outside the window")
                .containsOnly((byte) 0x11);

        boolean t8110 = variant.equals("t8110");
        int errorReg = dart.readRegister(t8110 ? DartIommu.T8110_ERROR : DartIommu.T8020_ERROR);
        // The first fault (a read) is latched: t8020 layout bit 7; t8110 has no sub-page bit (READ_FAULT, bit 5).
        assertThat(errorReg & (t8110 ? 0x7fff : 0xfff)).isEqualTo(t8110 ? 1 << 5 : 1 << 7);
    }

    @Test
    void theSharedWalkerReportsTheWindowTheLeafCarries() {
        PhysicalMemory memory = Darts.memory();
        DartDomain d = (DartDomain) Darts.dart("t8020", memory).createDomain();
        d.map(0x20_0000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE, 0x1000, 0x2000);
        d.map(0x20_4000, 0x8_0000_C000L, 0x4000, Prot.READ_WRITE);
        Translation windowed = PageTableWalker.walk(
                        memory, d.format(), d.table().rootPa(), 0x20_1234)
                .translation();
        assertThat(windowed.windowStart()).isEqualTo(0x20_1000);
        assertThat(windowed.windowEnd()).isEqualTo(0x20_2000);
        Translation whole = PageTableWalker.walk(memory, d.format(), d.table().rootPa(), 0x20_4000)
                .translation();
        assertThat(whole.hasSubpageWindow()).isFalse();
        // Listing every leaf (exposure reports) reports the same windows.
        assertThat(PageTableWalker.leaves(memory, d.format(), d.table().rootPa()))
                .extracting(Translation::iova, Translation::windowStart, Translation::windowEnd)
                .containsExactly(tuple(0x20_0000L, 0x20_1000L, 0x20_2000L), tuple(0x20_4000L, 0x20_4000L, 0x20_8000L));
    }

    @Test
    void defaultMappingAllowsTheWholePage() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t6000", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, Darts.dataPage(memory, (byte) 5), 0x4000, Prot.READ_WRITE);
        dart.device(0).attach(d);
        assertThat(dart.device(0).read(0x4000, 0x4000)).containsOnly((byte) 5);
        assertThat(dart.walk(0, 0x4000))
                .hasValueSatisfying(t -> assertThat(t.hasSubpageWindow()).isFalse());
    }

    @Test
    void staleIotlbEntryKeepsItsWindow() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, Darts.dataPage(memory, (byte) 5), 0x4000, Prot.READ_WRITE, 0, 0x100);
        d.map(0x8000, Darts.dataPage(memory, (byte) 6), 0x4000, Prot.READ_WRITE);
        dart.device(0).attach(d);
        dart.device(0).read(0x4000, 4);
        d.unmap(0x4000, 0x4000);
        assertThat(dart.device(0).read(0x4010, 4)).containsOnly((byte) 5);
        assertThat(Darts.faultOf(() -> dart.device(0).read(0x4100, 4)).code()).isEqualTo("SUBPAGE_PROT");
    }

    @Test
    void invalidWindowsAreRefusedAndMapNothing() {
        PhysicalMemory memory = Darts.memory();
        DartDomain d = (DartDomain) Darts.dart("t8020", memory).createDomain();
        for (long[] w : new long[][] {{0x10, 0x10}, {0x2, 0x100}, {0, 0x4004}, {-4, 0x100}, {0x200, 0x100}}) {
            assertThatThrownBy(() -> d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ, w[0], w[1]))
                    .isInstanceOf(InvalidArgumentException.class)
                    .hasMessageContaining("sub-page window");
        }
        assertThat(d.iovaToPhys(0x4000)).isEqualTo(-1);
    }
}
