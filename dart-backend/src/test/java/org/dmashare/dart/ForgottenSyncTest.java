package org.dmashare.dart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuApi;
import org.dmashare.iommu.IommuFault;
import org.dmashare.iommu.Prot;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Why the sync after map is owed, on the one unit that punishes forgetting it: a DART the firmware
 * left locked translates through the firmware's root table, into which the driver's root entries
 * are copied only when the domain's IOTLB is invalidated (Linux's apple-dart flushes in
 * {@code iotlb_sync_map}). A table-level map without its sync leaves the device faulting; the
 * domain level ({@link IommuApi}) cannot forget it.
 */
class ForgottenSyncTest {
    private static final long FB_IOVA = 0x1000_0000L;
    private static final long FB_SIZE = 0x40_0000L;
    /** Two IOVAs under root entries no mapping has used yet (one root entry spans 32 MiB). */
    private static final long FRESH_A = 0x2000_0000L;

    private static final long FRESH_B = 0x4000_0000L;

    private final PhysicalMemory memory = Darts.memory();

    private DartIommu lockedDart(String variant) {
        long fb = memory.allocator().allocate(FB_SIZE, PageUse.BUFFER);
        return Darts.lockedDart(variant, memory, FB_IOVA, fb, FB_SIZE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"t8020", "t6000", "t8110"})
    void aTableLevelMapWithoutItsSyncLeavesTheDeviceFaultingWhereTheDomainLevelMapIsReachable(String variant) {
        DartIommu dart = lockedDart(variant);
        DmaDevice disp = dart.device(0);
        DartDomain d = (DartDomain) dart.createDomain();
        disp.attach(d);
        long a = Darts.dataPage(memory, (byte) 0xA1);
        long b = Darts.dataPage(memory, (byte) 0xB2);

        d.map(FRESH_A, a, 0x4000, Prot.READ_WRITE); // table level, sync forgotten
        assertThat(d.iovaToPhys(FRESH_A))
                .as("the driver's table has the mapping")
                .isEqualTo(a);
        assertThatThrownBy(() -> disp.read(FRESH_A, 4))
                .as("the device walks the firmware's root table")
                .isInstanceOfSatisfying(
                        DeviceFaultException.class,
                        e -> assertThat(e.fault().reason()).isEqualTo(IommuFault.Reason.TRANSLATION));
        d.syncMap(FRESH_A, 0x4000);
        assertThat(disp.read(FRESH_A, 4)).as("reachable once synced").containsOnly((byte) 0xA1);

        IommuApi.map(d, FRESH_B, b, 0x4000, Prot.READ_WRITE); // domain level
        assertThat(disp.read(FRESH_B, 4))
                .as("reachable when the domain-level map returns")
                .containsOnly((byte) 0xB2);
        assertThat(IommuApi.unmap(d, FRESH_B, 0x4000)).isEqualTo(0x4000);
        assertThatThrownBy(() -> disp.read(FRESH_B, 4))
                .as("unreachable when the domain-level unmap returns")
                .isInstanceOf(DeviceFaultException.class);
    }
}
