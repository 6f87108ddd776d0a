package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.pgtable.PteKind;
import org.junit.jupiter.api.Test;

/** The reference's test vectors V1–V6, checked bit-exactly in memory and through the hardware walk. */
class DartPteFormatTest {

    private static byte[] page(long... indexAndValue) {
        byte[] p = new byte[0x4000];
        for (int i = 0; i < indexAndValue.length; i += 2) {
            int off = (int) indexAndValue[i] * 8;
            long v = indexAndValue[i + 1];
            for (int b = 0; b < 8; b++) {
                p[off + b] = (byte) (v >>> (8 * b));
            }
        }
        return p;
    }

    @Test
    void v1Dart1LeafTableEntryAndTtbrAreBitExact() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE);
        assertThat(memory.readLong(d.leafEntryAddress(0x4000))).isEqualTo(0x000F_FF08_0000_8003L);
        assertThat(d.leafEntryAddress(0x4000) & 0x3fff).isEqualTo(0x8);

        Dart1Format f = new Dart1Format(32, 36);
        assertThat(f.encodeTable(0x8_1000_4000L, 0)).isEqualTo(0x8_1000_4001L);
        assertThat(dart.encodeTtbr(0x8_1000_0000L)).isEqualTo(0x8081_0000);

        // The vector's own table layout, loaded as firmware state, translates as stated.
        DartDump dump = new DartDump(
                "t8020",
                Map.of(0, List.of(0x8081_0000L, 0L, 0L, 0L)),
                Map.of(0, 0x80L),
                Map.of(0x8_1000_0000L, page(0, 0x8_1000_4001L), 0x8_1000_4000L, page(1, 0x000F_FF08_0000_8003L)));
        DartIommu loaded = Darts.BACKEND.restore(dump, IommuConfig.of("t8020"), Darts.memory());
        assertThat(loaded.walk(0, 0x4000)).map(Translation::pa).contains(0x8_0000_8000L);
        assertThat(loaded.walk(0, 0x4000 + 0x123)).map(Translation::pa).contains(0x8_0000_8123L);
    }

    @Test
    void v2ReadOnlyDart1PageSetsNoWriteAndTranslatesOffset() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x1234_4000L, 0x9_8765_4000L, 0x4000, Prot.READ);
        long entry = d.leafEntryAddress(0x1234_5678L);
        assertThat(memory.readLong(entry)).isEqualTo(0x000F_FF09_8765_4083L);
        assertThat((entry & 0x3fff) / 8).isEqualTo(0xD1);
        dart.device(0).attach(d);
        assertThat(dart.walk(0, 0x1234_5678L)).map(Translation::pa).contains(0x9_8765_5678L);
        PageTableWalker.Result r =
                PageTableWalker.walk(memory, d.format(), d.table().rootPa(), 0x1234_5678L);
        assertThat(r.translation().pa()).isEqualTo(0x9_8765_5678L);
        assertThat(r.translation().prot().write()).isFalse();
    }

    @Test
    void v3WriteOnlyDart1PageAtTopOfTheSpace() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0xFFFF_C000L, 0x8_3000_0000L, 0x4000, Prot.WRITE);
        assertThat(memory.readLong(d.leafEntryAddress(0xFFFF_C004L))).isEqualTo(0x000F_FF08_3000_0103L);
        dart.device(0).attach(d);
        assertThat(dart.walk(0, 0xFFFF_C004L)).map(Translation::pa).contains(0x8_3000_0004L);
    }

    @Test
    void v3UnmappedCasesReportNoPmdNoPteAndNoTtbr() {
        byte[] l1 = page(0, 0x8_1000_4001L);
        byte[] l2 = page(1, 0x000F_FF08_0000_8003L);
        Map<Long, byte[]> pages = Map.of(0x8_1000_0000L, l1, 0x8_1000_4000L, l2);
        DartIommu valid = Darts.BACKEND.restore(
                new DartDump("t8020", Map.of(0, List.of(0x8081_0000L, 0L, 0L, 0L)), Map.of(0, 0x80L), pages),
                IommuConfig.of("t8020"),
                Darts.memory());
        assertThat(codeOf(valid, 0x200_0000L)).isEqualTo("NO_PMD");
        assertThat(valid.readRegister(DartIommu.T8020_ERROR) & 0xfff).isEqualTo(1 << 1);
        valid.acknowledgeError();
        assertThat(codeOf(valid, 0x0)).isEqualTo("NO_PTE");
        assertThat(valid.readRegister(DartIommu.T8020_ERROR) & 0xfff).isEqualTo(1 << 2);

        DartIommu cleared = Darts.BACKEND.restore(
                new DartDump("t8020", Map.of(0, List.of(0x0081_0000L, 0L, 0L, 0L)), Map.of(0, 0x80L), pages),
                IommuConfig.of("t8020"),
                Darts.memory());
        assertThat(codeOf(cleared, 0x4000)).isEqualTo("NO_TTBR");
        assertThat(cleared.readRegister(DartIommu.T8020_ERROR) & 0xfff).isEqualTo(1);
    }

    private static String codeOf(DartIommu dart, long iova) {
        try {
            dart.device(0).read(iova, 4);
        } catch (DeviceFaultException e) {
            return e.fault().code();
        }
        throw new AssertionError("no fault at " + Long.toHexString(iova));
    }

    @Test
    void v4Dart2LeafEncodesCacheAsAbsenceOfNoCache() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t6000", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0x4000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE.withCache());
        d.map(0x8000, 0x8_0000_8000L, 0x4000, Prot.READ_WRITE);
        assertThat(memory.readLong(d.leafEntryAddress(0x4000))).isEqualTo(0x000F_FF00_8000_0801L);
        assertThat(memory.readLong(d.leafEntryAddress(0x8000))).isEqualTo(0x000F_FF00_8000_0803L);
        assertThat(d.format().decodeAddress(0x000F_FF00_8000_0801L)).isEqualTo(0x8_0000_8000L);
        assertThat(d.format().prot(0x000F_FF00_8000_0801L, 1)).isEqualTo(Prot.READ_WRITE.withCache());
    }

    @Test
    void v5AndV6Dart2With42BitAddresses() {
        PhysicalMemory high = PhysicalMemory.create(0x2A0_0000_0000L, 1L << 30, 16384);
        DartIommu dart = Darts.dart("t6000", high);
        DartDomain d = (DartDomain) dart.createDomain();
        d.map(0xFFFF_C000L, 0x2A0_1234_C000L, 0x4000, Prot.READ.withCache());
        assertThat(high.readLong(d.leafEntryAddress(0xFFFF_C123L))).isEqualTo(0x000F_FF2A_0123_4C05L);

        assertThat(dart.encodeTtbr(0x2A0_0000_0000L)).isEqualTo(0xAA00_0000);
        assertThat(d.format().encodeTable(0x2A0_0000_4000L, 0)).isEqualTo(0x2A_0000_0401L);

        DartDump dump = new DartDump(
                "t6000",
                Map.of(0, List.of(0xAA00_0000L, 0L, 0L, 0L)),
                Map.of(0, 0x80L),
                Map.of(
                        0x2A0_0000_0000L,
                        page(0x7F, 0x2A_0000_0401L),
                        0x2A0_0000_4000L,
                        page(0x7FF, 0x000F_FF2A_0123_4C05L)));
        DartIommu loaded = Darts.BACKEND.restore(
                dump, IommuConfig.of("t6000"), PhysicalMemory.create(0x2A0_0000_0000L, 1L << 30, 16384));
        assertThat(loaded.walk(0, 0xFFFF_C123L)).map(Translation::pa).contains(0x2A0_1234_C123L);
    }

    @Test
    void t8110TtbrEncodingMatchesTheReference() {
        DartIommu dart = Darts.dart("t8110", Darts.memory());
        assertThat(dart.encodeTtbr(0x8_1000_0000L)).isEqualTo(0x81_0001);
        assertThat(dart.decodeTtbr(0x81_0001)).isEqualTo(0x8_1000_0000L);
        assertThat(dart.decodeTtbr(0x81_0000)).isEqualTo(-1);
    }

    @Test
    void validityIsBitZeroAndLevelDecidesTableOrLeaf() {
        Dart2Format f = new Dart2Format(36, 42);
        assertThat(f.kind(0x2A_0000_0400L, 0)).isEqualTo(PteKind.INVALID);
        assertThat(f.kind(0x2A_0000_0401L, 0)).isEqualTo(PteKind.TABLE);
        assertThat(f.kind(0x2A_0000_0401L, 1)).isEqualTo(PteKind.LEAF);
        assertThat(DartPteFormat.levelsFor(32)).isEqualTo(2);
        assertThat(DartPteFormat.levelsFor(36)).isEqualTo(2);
        assertThat(DartPteFormat.levelsFor(37)).isEqualTo(3);
        assertThat(DartPteFormat.levelsFor(47)).isEqualTo(3);
    }

    @Test
    void mappingWithoutReadOrWriteIsRefused() {
        DartDomain d = (DartDomain) Darts.dart("t8020", Darts.memory()).createDomain();
        assertThatThrownBy(() -> d.map(0x4000, 0x8_0000_8000L, 0x4000, new Prot(false, false, true, false)))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("read or write");
        assertThat(d.iovaToPhys(0x4000)).isEqualTo(-1);
    }

    @Test
    void physicalAddressBeyondTheOutputSizeIsRefused() {
        PhysicalMemory above36 = PhysicalMemory.create(0x10_0000_0000L, 1L << 30, 16384);
        DartDomain d = (DartDomain) Darts.dart("t8020", above36).createDomain();
        assertThatThrownBy(() -> d.map(0x4000, 0x10_0000_4000L, 0x4000, Prot.READ_WRITE))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("36-bit output size");
        DartDomain d2 = (DartDomain) Darts.dart("t6000", above36).createDomain();
        d2.map(0x4000, 0x10_0000_4000L, 0x4000, Prot.READ_WRITE);
        assertThat(d2.iovaToPhys(0x4010)).isEqualTo(0x10_0000_4010L);
    }

    @Test
    void onlyGranulePagesAreMappedNeverBlocks() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8020", memory);
        DartDomain d = (DartDomain) dart.createDomain();
        assertThat(d.pageSizes()).isEqualTo(0x4000);
        long pa = memory.allocator().allocate(32L << 20, PageUse.BUFFER);
        d.map(0x200_0000L, pa, 32L << 20, Prot.READ_WRITE);
        dart.device(1).attach(d);
        assertThat(dart.walk(1, 0x200_0000L + 0x1FF_C010L)).hasValueSatisfying(t -> {
            assertThat(t.pageSize()).isEqualTo(0x4000);
            assertThat(t.pa()).isEqualTo(pa + 0x1FF_C010L);
        });
        assertThat(d.table().tablePages()).hasSize(2);
        assertThatThrownBy(() -> d.map(0x8000_0000L, pa, 0x1000, Prot.READ_WRITE))
                .isInstanceOf(InvalidArgumentException.class);
    }
}
