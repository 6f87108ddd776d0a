package org.dmashare.sharing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.dmashare.fixture.TwoLevelBackend;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.junit.jupiter.api.Test;

/**
 * The IOTLB work the helper does through the domain level, counted as invalidation commands of the
 * test-only two-level units (whose IOTLB caches only valid translations, so a sync after map has
 * nothing to invalidate): none to map, one per domain to unmap.
 */
class SharingIotlbWorkTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 64L << 20, 4096);
    private final DmaSharing sharing = new DmaSharing(memory);
    private final Iommu ua = unit("a");
    private final Iommu ub = unit("b");
    private final IommuDomain a = attached(ua);
    private final IommuDomain b = attached(ub);

    private Iommu unit(String name) {
        return IommuBackends.find(TwoLevelBackend.NAME)
                .create(IommuConfig.builder("two-level-4k").name(name).build(), memory);
    }

    private static IommuDomain attached(Iommu unit) {
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    private long invalidations() {
        return TwoLevelBackend.invalidations(ua) + TwoLevelBackend.invalidations(ub);
    }

    @Test
    void mappingInvalidatesNothingAndClosingInvalidatesEachDomainOnceBeforeTheDeviceLosesTheBuffer() {
        long before = invalidations();
        SharedBuffer buffer = sharing.allocate(0x8000, List.of(a, b));
        assertThat(invalidations()).as("invalidations to map into two domains").isEqualTo(before);
        long iova = buffer.iova(a);
        ua.device(0).read(iova, 0x8000); // warm the IOTLB
        buffer.close();
        assertThat(invalidations() - before)
                .as("invalidations to close: one per domain")
                .isEqualTo(2);
        assertThatThrownBy(() -> ua.device(0).read(iova, 1)).isInstanceOf(DeviceFaultException.class);
    }

    @Test
    void unshareInvalidatesOnlyTheDomainItLeaves() {
        try (SharedBuffer buffer = sharing.allocate(0x4000, List.of(a))) {
            long before = TwoLevelBackend.invalidations(ub);
            buffer.shareWith(b);
            long iova = buffer.iova(b);
            ub.device(0).read(iova, 1);
            long beforeA = TwoLevelBackend.invalidations(ua);
            buffer.unshare(b);
            assertThat(TwoLevelBackend.invalidations(ub) - before)
                    .as("invalidations of the left domain")
                    .isEqualTo(1);
            assertThat(TwoLevelBackend.invalidations(ua))
                    .as("invalidations of the other domain")
                    .isEqualTo(beforeA);
            assertThatThrownBy(() -> ub.device(0).read(iova, 1)).isInstanceOf(DeviceFaultException.class);
        }
    }
}
