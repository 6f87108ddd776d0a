package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.dmashare.InvalidArgumentException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.DomainType;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Configuration, device DMA through every variant, the walk (depth, TTBR choice, reach), stale
 * IOTLB entries, bypass and blocked streams. What each register layout does with its own offsets
 * and bits (TCR/TTBR programming, ERROR bits, invalidation commands, reset, the lock) is proved
 * once per variant in {@link DartRegisterLayoutTest}.
 */
class DartIommuTest {

    @Test
    void backendIsDiscoveredWithItsThreeVariants() {
        assertThat(IommuBackends.find("apple-dart")).isInstanceOf(DartBackend.class);
        assertThat(Darts.BACKEND.variants()).extracting(v -> v.name()).containsExactly("t8020", "t6000", "t8110");
        assertThat(Darts.BACKEND.variants()).allSatisfy(v -> {
            assertThat(v.granule()).isEqualTo(0x4000);
            assertThat(v.pageSizes()).isEqualTo(0x4000);
        });
    }

    @Test
    void defaultsFollowTheVariant() {
        PhysicalMemory memory = Darts.memory();
        DartIommu m1 = Darts.dart("t8020", memory);
        DartIommu pro = Darts.dart("t6000", memory);
        DartIommu m2 = Darts.dart("t8110", memory);
        assertThat(List.of(m1.inputBits(), m1.outputBits(), m1.streamCount())).containsExactly(32, 36, 16);
        assertThat(List.of(pro.inputBits(), pro.outputBits(), pro.streamCount()))
                .containsExactly(32, 42, 16);
        assertThat(List.of(m2.inputBits(), m2.outputBits(), m2.streamCount())).containsExactly(36, 42, 256);
        assertThat(m1.format()).isInstanceOf(Dart1Format.class);
        assertThat(pro.format()).isInstanceOf(Dart2Format.class);
        assertThat(m2.format()).isInstanceOf(Dart2Format.class);
        assertThat(m1.readRegister(DartIommu.PARAMS1)).isEqualTo(14 << 24);
        assertThat(m2.readRegister(DartIommu.T8110_PARAMS3)).isEqualTo((42 << 24) | (36 << 16));
        assertThat(m2.readRegister(DartIommu.T8110_PARAMS4)).isEqualTo(256);
    }

    @Test
    void badConfigurationsAreRefusedWithWhatIsAccepted() {
        PhysicalMemory memory = Darts.memory();
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8020").option("colour", "blue"), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("[bypass, locked]");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8020").streams(17), memory))
                .hasMessageContaining("1..16");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8110").streams(257), memory))
                .hasMessageContaining("1..256");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8020").inputBits(36), memory))
                .hasMessageContaining("input bits 32");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8110").outputBits(40), memory))
                .hasMessageContaining("36 or 42");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t9000"), memory))
                .hasMessageContaining("t8020");
        assertThatThrownBy(() -> Darts.dart(IommuConfig.builder("t8020").option("locked", "true"), memory))
                .hasMessageContaining("DartBackend.restore");
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void deviceDmaGoesThroughEveryVariant(String variant) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(variant, memory);
        IommuDomain d = dart.createDomain();
        long pa = memory.allocator().allocate(0x8000, PageUse.BUFFER);
        d.map(0x10_0000, pa, 0x8000, Prot.READ_WRITE);
        DmaDevice dev = dart.device(5);
        dev.attach(d);
        byte[] data = new byte[0x5000];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 7 + 3);
        }
        dev.write(0x10_0000 + 0x2000, data);
        assertThat(memory.read(pa + 0x2000, data.length)).isEqualTo(data);
        assertThat(dev.read(0x10_0000 + 0x2000, data.length)).isEqualTo(data);
        assertThat(dart.faults()).isEmpty();
    }

    @Test
    void t8110AboveThirtySixBitsWalksFourLevels() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(IommuConfig.builder("t8110").inputBits(40), memory);
        DartDomain d = (DartDomain) dart.createDomain();
        assertThat(d.format().levels()).isEqualTo(3);
        assertThat(d.apertureEnd()).isEqualTo(1L << 40);
        long pa = Darts.dataPage(memory, (byte) 0x5A);
        d.map(0xAB_CDEF_C000L, pa, 0x4000, Prot.READ_WRITE);
        DmaDevice dev = dart.device(7);
        dev.attach(d);
        assertThat(dart.tcr(7)).isEqualTo(0x9);
        assertThat(dev.read(0xAB_CDEF_C010L, 4)).containsOnly((byte) 0x5A);
        IommuFault f = Darts.faultOf(() -> dev.read(0x20_0000_0000L, 4));
        assertThat(f.code()).isEqualTo("NO_PGD");
        assertThat(dart.readRegister(DartIommu.T8110_ERROR)).isEqualTo(0x8000_0000 | (7 << 20) | (1 << 1));
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void unmapWithoutFlushLeavesStaleTranslation(String variant) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(variant, memory);
        IommuDomain d = dart.createDomain();
        long pa = Darts.dataPage(memory, (byte) 0x33);
        d.map(0x8000, pa, 0x4000, Prot.READ_WRITE);
        d.map(0xC000, Darts.dataPage(memory, (byte) 0x44), 0x4000, Prot.READ_WRITE);
        DmaDevice dev = dart.device(1);
        dev.attach(d);
        assertThat(dev.read(0x8000, 2)).containsOnly((byte) 0x33);

        assertThat(d.unmap(0x8000, 0x4000)).isEqualTo(0x4000);
        assertThat(dart.walk(1, 0x8000)).isEmpty();
        assertThat(dev.read(0x8000, 2)).as("stale IOTLB entry still used").containsOnly((byte) 0x33);

        d.flushIotlb();
        assertThat(Darts.faultOf(() -> dev.read(0x8000, 2)).code()).isEqualTo("NO_PTE");
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t8110"})
    void bypassPassesPhysicalAddressesWhereSupported(String variant) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(IommuConfig.builder(variant).option("bypass", "true"), memory);
        assertThat(dart.readRegister(DartIommu.PARAMS2) & 1).isEqualTo(1);
        long pa = Darts.dataPage(memory, (byte) 0x6B);
        IommuDomain identity = dart.createDomain(DomainType.IDENTITY);
        dart.device(0).attach(identity);
        assertThat(dart.tcr(0)).isEqualTo(variant.equals("t8020") ? 0x1100 : 0x6);
        assertThat(dart.device(0).read(pa + 0x10, 3)).containsOnly((byte) 0x6B);

        DartIommu strict = Darts.dart(variant, memory);
        assertThat(strict.readRegister(DartIommu.PARAMS2) & 1).isZero();
        assertThatThrownBy(() -> strict.createDomain(DomainType.IDENTITY))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("bypass");
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void blockedStreamsFaultEveryAccess(String variant) {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart(variant, memory);
        IommuDomain blocked = dart.createDomain(DomainType.BLOCKED);
        long pa = Darts.dataPage(memory, (byte) 1);
        DmaDevice dev = dart.device(4);
        dev.attach(blocked);
        assertThat(dart.tcr(4)).isZero();
        for (long iova : new long[] {0, pa, 0x4000}) {
            IommuFault f = Darts.faultOf(() -> dev.write(iova, new byte[1]));
            assertThat(f.reason()).isEqualTo(IommuFault.Reason.BLOCKED);
            assertThat(f.code()).isEqualTo("NO_TTBR");
        }
        DmaDevice fresh = dart.device(5);
        assertThat(Darts.faultOf(() -> fresh.read(0, 1)).reason()).isEqualTo(IommuFault.Reason.BLOCKED);
        assertThatThrownBy(() -> blocked.map(0x4000, pa, 0x4000, Prot.READ))
                .isInstanceOf(InvalidArgumentException.class);
    }

    @Test
    void disabledStreamIsBlockedEvenWithTranslationProgrammed() {
        PhysicalMemory memory = Darts.memory();
        DartIommu dart = Darts.dart("t8110", memory);
        IommuDomain d = dart.createDomain();
        d.map(0x4000, Darts.dataPage(memory, (byte) 3), 0x4000, Prot.READ);
        dart.device(33).attach(d);
        assertThat(dart.device(33).read(0x4000, 1)).containsExactly(3);
        dart.writeRegister(DartIommu.T8110_DISABLE_STREAMS + 4, 1 << 1);
        d.flushIotlb();
        assertThat(Darts.faultOf(() -> dart.device(33).read(0x4000, 1)).reason())
                .isEqualTo(IommuFault.Reason.BLOCKED);
    }

    @Test
    void upperTtbrsAreReachableByIovaBits37To36WhenProgrammed() {
        PhysicalMemory memory = Darts.memory();
        DartFirmware fw = DartFirmware.of(DartVariant.T8020, memory);
        long pa = Darts.dataPage(memory, (byte) 0x21);
        fw.map(0, 0x4000, pa, 0x4000, Prot.READ);
        long root = fw.rootPa(0);
        DartDump base = fw.dump();
        long ttbr = 0x8000_0000L | (root >>> 12);
        DartDump ttbr2 = new DartDump("t8020", Map.of(0, List.of(0L, 0L, ttbr, 0L)), base.tcr(), base.memory());
        DartIommu dart = Darts.BACKEND.restore(ttbr2, IommuConfig.of("t8020"), memory);
        assertThat(dart.device(0).read((2L << 36) | 0x4000, 1)).containsExactly(0x21);
        assertThat(Darts.faultOf(() -> dart.device(0).read(0x4000, 1)).code()).isEqualTo("NO_TTBR");
        assertThat(Darts.faultOf(() -> dart.device(0).read(1L << 38, 1)).code()).isEqualTo("NO_TTBR");
    }

    @Test
    void theHardwareIndexesTheWholeL1TableWhateverIasTheDriverConfigured() {
        PhysicalMemory memory = Darts.memory();
        DartFirmware fw = DartFirmware.of(DartVariant.T8020, memory, 36);
        long pa = Darts.dataPage(memory, (byte) 0x36);
        fw.map(0, 0x8_0000_4000L, pa, 0x4000, Prot.READ); // L1 index 0x400, beyond a 32-bit ias's 128 entries
        DartIommu dart = Darts.BACKEND.restore(fw.dump(), IommuConfig.of("t8020"), memory);
        assertThat(dart.inputBits()).isEqualTo(32);
        assertThat(dart.device(0).read(0x8_0000_4010L, 1)).containsExactly(0x36);
        assertThat(Darts.faultOf(() -> dart.device(0).read(0x8_0000_8000L, 1)).code())
                .isEqualTo("NO_PTE");
    }
}
