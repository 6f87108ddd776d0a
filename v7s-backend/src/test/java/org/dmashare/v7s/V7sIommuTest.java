package org.dmashare.v7s;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/** The arm-v7s unit: its TTBR, the device walk from it, faults, the IOTLB and the table memory. */
class V7sIommuTest {
    private static final long BASE = 0x4000_0000L;

    private final PhysicalMemory memory = PhysicalMemory.create(BASE, 1L << 28, 4096);
    private final Iommu unit =
            new V7sBackend().create(IommuConfig.builder("v7s").name("v7s0").build(), memory);

    @Test
    void backendIsFoundByServiceLoaderUnderItsName() {
        assertThat(IommuBackends.available()).anyMatch(b -> b.name().equals("arm-v7s"));
        assertThat(new V7sBackend().variants())
                .singleElement()
                .satisfies(v -> assertThat(v.pageSizes()).isEqualTo(0x0111_1000L));
    }

    @Test
    void attachProgramsTheTtbrWithTheRootAndLinuxsCoherentWalkAttributes() {
        IommuDomain d = unit.createDomain();
        unit.device(3).attach(d);
        long root = ((PagingDomain) d).table().rootPa();
        assertThat(((V7sIommu) unit).ttbr(3)).isEqualTo(root | 0x6A);
        assertThat(((V7sIommu) unit).ttbr(2)).as("an unattached stream's TTBR").isZero();
    }

    @Test
    void deviceReadsThroughEveryLeafShapeByWalkingFromTheTtbr() {
        IommuDomain d = unit.createDomain();
        DmaDevice dev = unit.device(0);
        dev.attach(d);
        long buf = memory.allocator().allocate(1L << 24, PageUse.BUFFER);
        memory.write(buf + 0x12_3456, new byte[] {42});
        d.map(0x0100_0000L, buf, 1L << 24, Prot.READ_WRITE); // one supersection
        d.map(0x0000_1000L, buf + 0x12_3000, 0x1000, Prot.READ); // a small page
        d.map(0x0001_0000L, buf + 0x12_0000, 0x1_0000, Prot.READ); // a large page
        d.map(0x0030_0000L, buf + 0x10_0000, 0x10_0000, Prot.READ); // a section
        assertThat(dev.read(0x0112_3456L, 1)).containsExactly(42);
        assertThat(dev.read(0x0000_1456L, 1)).containsExactly(42);
        assertThat(dev.read(0x0001_3456L, 1)).containsExactly(42);
        assertThat(dev.read(0x0032_3456L, 1)).containsExactly(42);
        assertThat(unit.walk(0, 0x0001_3456L))
                .get()
                .satisfies(t -> assertThat(t.pageSize()).isEqualTo(0x1_0000));
    }

    @Test
    void unmappedIovaFaultsAtTheLevelItsWalkStopped() {
        IommuDomain d = unit.createDomain();
        DmaDevice dev = unit.device(1);
        dev.attach(d);
        assertThatThrownBy(() -> dev.read(0x0050_0000L, 4)).isInstanceOf(DeviceFaultException.class);
        d.map(0x0060_0000L, BASE, 0x1000, Prot.READ);
        assertThatThrownBy(() -> dev.read(0x0060_1000L, 4)).isInstanceOf(DeviceFaultException.class);
        assertThat(unit.faults()).extracting(IommuFault::code).containsExactly("TRANSLATION_L0", "TRANSLATION_L1");
        assertThatThrownBy(() -> dev.write(0x0060_0000L, new byte[4])).isInstanceOf(DeviceFaultException.class);
        assertThat(unit.faults().get(2).reason()).isEqualTo(IommuFault.Reason.PERMISSION);
    }

    @Test
    void unmapWithoutFlushLeavesAStaleTranslationUntilTheIotlbIsFlushed() {
        IommuDomain d = unit.createDomain();
        DmaDevice dev = unit.device(0);
        dev.attach(d);
        d.map(0x0001_0000L, BASE, 0x1_0000, Prot.READ_WRITE);
        dev.read(0x0001_0000L, 4);
        d.unmap(0x0001_0000L, 0x1_0000);
        assertThat(dev.read(0x0001_0000L, 4))
                .as("stale IOTLB entry still translates")
                .hasSize(4);
        d.flushIotlb();
        assertThatThrownBy(() -> dev.read(0x0001_0000L, 4)).isInstanceOf(DeviceFaultException.class);
    }

    @Test
    void levelTwoTablesArePiecesOfOnePageKeptWhenEmptiedAndFreedWhenTheirWholeMegabyteIsUnmapped() {
        IommuDomain d = unit.createDomain();
        long before = memory.allocator().usage().tableBytes();
        for (int i = 0; i < 4; i++) {
            d.map(((long) i << 20) + 0x1000, BASE, 0x1000, Prot.READ);
        }
        assertThat(memory.allocator().usage().tableBytes() - before)
                .as("four 1 KiB tables in one 4 KiB page")
                .isEqualTo(0x1000);
        d.map(4L << 20, BASE, 0x1000, Prot.READ);
        assertThat(memory.allocator().usage().tableBytes() - before)
                .as("a fifth needs a second page")
                .isEqualTo(0x2000);
        for (int i = 0; i <= 4; i++) {
            assertThat(d.unmap(((long) i << 20) + (i < 4 ? 0x1000 : 0), 0x1000)).isEqualTo(0x1000);
        }
        assertThat(memory.allocator().usage().tableBytes() - before)
                .as("__arm_v7s_unmap keeps emptied L2 tables")
                .isEqualTo(0x2000);
        d.map(0x2000, BASE, 0x1000, Prot.READ);
        assertThat(memory.allocator().usage().tableBytes() - before)
                .as("a map into a kept table allocates nothing")
                .isEqualTo(0x2000);
        assertThat(d.unmap(4L << 20, 1L << 20))
                .as("the fifth table's whole 1 MiB")
                .isZero();
        assertThat(memory.allocator().usage().tableBytes() - before)
                .as("its table freed, and with it the second page")
                .isEqualTo(0x1000);
        assertThat(d.unmap(0, 4L << 20))
                .as("the other four tables' whole megabytes")
                .isEqualTo(0x1000);
        assertThat(memory.allocator().usage().tableBytes()).isEqualTo(before);
        d.close();
        assertThat(memory.allocator().usage().tableBytes()).isZero();
    }

    @Test
    void unmapRefusesToCutALargePageOrSupersectionAndChangesNothing() {
        IommuDomain d = unit.createDomain();
        d.map(0x0001_0000L, BASE, 0x1_0000, Prot.READ);
        d.map(0x0100_0000L, BASE, 1L << 24, Prot.READ);
        assertThatThrownBy(() -> d.unmap(0x0001_0000L, 0x1000))
                .isInstanceOf(MappingConflictException.class)
                .hasMessageContaining("64 KiB");
        assertThatThrownBy(() -> d.unmap(0x0100_0000L, 0x10_0000))
                .isInstanceOf(MappingConflictException.class)
                .hasMessageContaining("16 MiB");
        assertThat(d.iovaToPhys(0x0001_f000L)).isEqualTo(BASE + 0xf000);
        assertThat(d.iovaToPhys(0x01ff_f000L)).isEqualTo(BASE + 0xff_f000);
        assertThat(d.unmap(0x0100_0000L, 1L << 24)).isEqualTo(1L << 24);
    }

    @Test
    void aSectionOverALevelTwoTableIsRefusedUnlikeLinux() {
        IommuDomain d = unit.createDomain();
        d.map(0x0020_0000L, BASE, 0x1000, Prot.READ);
        assertThatThrownBy(() -> d.map(0x0020_0000L, BASE + 0x10_0000, 0x10_0000, Prot.READ))
                .isInstanceOf(MappingConflictException.class);
        assertThat(d.iovaToPhys(0x0020_0000L)).isEqualTo(BASE);
    }

    @Test
    void memoryAboveFourGibAndWidthsOtherThan32AreRefused() {
        PhysicalMemory high = PhysicalMemory.create(0x1_0000_0000L, 1L << 24, 4096);
        Iommu u = new V7sBackend().create(IommuConfig.builder("v7s").build(), high);
        IommuDomain d = u.createDomain();
        assertThatThrownBy(() -> d.map(0x1000, 0x1_0000_0000L, 0x1000, Prot.READ))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("32-bit output");
        assertThatThrownBy(() -> new V7sBackend()
                        .create(IommuConfig.builder("v7s").inputBits(34).build(), memory))
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessageContaining("input bits 34");
    }
}
