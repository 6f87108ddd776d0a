package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** A DART the firmware left programmed and locked, with a framebuffer already mapped. */
class LockedDartTest {
    private static final long FB_IOVA = 0x1000_0000L;
    private static final long FB_SIZE = 0x40_0000L;

    private PhysicalMemory memory;
    private long fbPa;

    @BeforeEach
    void framebuffer() {
        memory = Darts.memory();
        fbPa = memory.allocator().allocate(FB_SIZE, PageUse.BUFFER);
        memory.fill(fbPa, FB_SIZE, (byte) 0xFB);
    }

    private DartIommu lockedDart(String variant) {
        return Darts.lockedDart(variant, memory, FB_IOVA, fbPa, FB_SIZE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void firmwareMappingSurvivesTheDriversOwnMaps(String variant) {
        DartIommu dart = lockedDart(variant);
        assertThat(dart.isLocked()).isTrue();
        int[] ttbrBefore = dart.ttbrs(0);
        int tcrBefore = dart.tcr(0);
        long fwRoot = dart.decodeTtbr(ttbrBefore[0]);
        long fwEntry = memory.readLong(fwRoot + 8 * (FB_IOVA >>> 25));
        DmaDevice disp = dart.device(0);
        assertThat(disp.read(FB_IOVA + 0x1234, 4)).as("scan-out before Linux").containsOnly((byte) 0xFB);

        DartDomain d = (DartDomain) dart.createDomain();
        disp.attach(d);
        long buf = Darts.dataPage(memory, (byte) 0x42);
        long iova = d.iovaSpace().findFree(0x4000, 0x4000, d.iovaSpace().end());
        d.map(iova, buf, 0x4000, Prot.READ_WRITE);
        d.flushIotlb();

        assertThat(disp.read(iova, 8)).containsOnly((byte) 0x42);
        assertThat(disp.read(FB_IOVA + FB_SIZE - 4, 4)).containsOnly((byte) 0xFB);
        assertThat(dart.ttbrs(0)).containsExactly(ttbrBefore);
        assertThat(dart.tcr(0)).isEqualTo(tcrBefore);
        assertThat(memory.readLong(fwRoot + 8 * (FB_IOVA >>> 25))).isEqualTo(fwEntry);
        // The driver's root entry was copied into the firmware's root table.
        int index = d.format().index(iova, 0);
        assertThat(memory.readLong(fwRoot + 8L * index))
                .isEqualTo(memory.readLong(d.table().rootPa() + 8L * index));

        d.unmap(iova, 0x4000);
        d.flushIotlb();
        assertThat(memory.readLong(fwRoot + 8L * index))
                .as("the L2 table lives until the domain is freed, and so" + " does its copied root entry")
                .isEqualTo(memory.readLong(d.table().rootPa() + 8L * index));
        assertThat(dart.walk(0, iova)).as("nothing mapped there").isEmpty();
        d.close();
        assertThat(memory.readLong(fwRoot + 8L * index))
                .as("copied entry removed with the domain")
                .isZero();
        assertThat(disp.read(FB_IOVA, 4)).containsOnly((byte) 0xFB);
        assertThat(dart.faults()).isEmpty();
    }

    @Test
    void lockedDartRefusesResetIdentityBlockedAndRegisterWrites() {
        DartIommu dart = lockedDart("t8020");
        assertThatThrownBy(dart::reset)
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("locked");
        assertThatThrownBy(() -> dart.createDomain(DomainType.IDENTITY)).hasMessageContaining("locked");
        assertThatThrownBy(() -> dart.createDomain(DomainType.BLOCKED)).hasMessageContaining("locked");
        int ttbr = dart.ttbrs(0)[0];
        dart.writeRegister(dart.ttbrOffset(0, 0), 0);
        dart.writeRegister(dart.tcrOffset(0), 0);
        dart.writeRegister(DartIommu.T8020_CONFIG, 0);
        assertThat(dart.ttbrs(0)[0]).isEqualTo(ttbr);
        assertThat(dart.tcr(0)).isEqualTo(0x80);
        assertThat(dart.isLocked()).isTrue();

        DartIommu m2 = lockedDart("t8110");
        m2.writeRegister(DartIommu.T8110_UNPROTECT, 1);
        assertThat(m2.isLocked()).isTrue();
    }

    @Test
    void driverCannotMapOverTheFirmwaresRootEntries() {
        DartIommu dart = lockedDart("t8020");
        DartDomain d = (DartDomain) dart.createDomain();
        assertThat(d.firmwareRanges()).hasSize(1);
        assertThat(d.firmwareRanges().get(0)).containsExactly(FB_IOVA, FB_IOVA + 0x200_0000L);
        long buf = Darts.dataPage(memory, (byte) 1);
        assertThatThrownBy(() -> d.map(FB_IOVA + FB_SIZE, buf, 0x4000, Prot.READ))
                .isInstanceOf(MappingConflictException.class)
                .hasMessageContaining("firmware");
        assertThat(d.iovaSpace().isFree(FB_IOVA, 0x4000)).isFalse();
        for (int i = 0; i < 600; i++) {
            long iova = d.iovaSpace().findFree(0x8_0000, 0x4000, d.iovaSpace().end());
            assertThat(iova + 0x8_0000 <= FB_IOVA || iova >= FB_IOVA + 0x200_0000L)
                    .isTrue();
        }
    }

    @Test
    void closingTheDomainClearsOnlyTheDriversEntries() {
        DartIommu dart = lockedDart("t6000");
        long fwRoot = dart.decodeTtbr(dart.ttbrs(0)[0]);
        byte[] firmwareRootBefore = memory.read(fwRoot, 0x4000);
        DartDomain d = (DartDomain) dart.createDomain();
        dart.device(0).attach(d);
        d.map(0x4000, Darts.dataPage(memory, (byte) 9), 0x4000, Prot.READ);
        d.map(0x4000_0000L, Darts.dataPage(memory, (byte) 9), 0x4000, Prot.READ);
        d.flushIotlb();
        assertThat(memory.read(fwRoot, 0x4000)).isNotEqualTo(firmwareRootBefore);
        d.close();
        assertThat(memory.read(fwRoot, 0x4000)).isEqualTo(firmwareRootBefore);
    }

    @Test
    void lockedT8110KeepsTheFirmwaresFourLevelDepth() {
        DartDump firmware = DartFirmware.of(DartVariant.T8110, memory, 40)
                .map(0, FB_IOVA, fbPa, FB_SIZE, Prot.READ_WRITE)
                .dump();
        assertThat(firmware.tcr().get(0)).isEqualTo(0x9L);
        DartIommu dart = Darts.BACKEND.restore(
                firmware,
                IommuConfig.builder("t8110")
                        .name("dispext0")
                        .option("locked", "true")
                        .build(),
                memory);
        DartDomain d = (DartDomain) dart.createDomain();
        assertThat(d.format().levels()).isEqualTo(3);
        assertThat(d.format().inputBits()).isEqualTo(37);
        dart.device(0).attach(d);
        long iova = d.iovaSpace().findFree(0x4000, 0x4000, d.iovaSpace().end());
        assertThat(iova).isGreaterThanOrEqualTo(1L << 36);
        d.map(iova, Darts.dataPage(memory, (byte) 0x37), 0x4000, Prot.READ);
        d.flushIotlb();
        assertThat(dart.device(0).read(iova, 4)).containsOnly((byte) 0x37);
        assertThat(dart.device(0).read(FB_IOVA, 4)).containsOnly((byte) 0xFB);
    }

    @Test
    void restoredFirmwarePagesAreClaimedFromTheAllocator() {
        DartFirmware fw = DartFirmware.of(DartVariant.T8020, memory).map(0, FB_IOVA, fbPa, FB_SIZE, Prot.READ);
        DartDump dump = fw.dump();
        PhysicalMemory fresh = Darts.memory();
        DartIommu dart = Darts.BACKEND.restore(
                dump, IommuConfig.builder("t8020").option("locked", "true").build(), fresh);
        for (long pa : dump.memory().keySet()) {
            assertThat(fresh.allocator().isAllocated(pa, 0x4000)).isTrue();
        }
        DartDomain d = (DartDomain) dart.createDomain();
        assertThat(dump.memory().keySet()).doesNotContain(d.table().rootPa());
    }
}
