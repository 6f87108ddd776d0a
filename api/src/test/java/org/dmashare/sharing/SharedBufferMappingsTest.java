package org.dmashare.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.fixture.TwoLevelBackend;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.SharedBuffer.Mapping;
import org.junit.jupiter.api.Test;

/**
 * A buffer's mappings, kept inline for the first two domains and in a list beyond: order, late
 * sharing and unsharing from any position, and close, with more domains than the inline slots.
 */
class SharedBufferMappingsTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x8_0000_0000L, 64L << 20, 4096);
    private final DmaSharing sharing = new DmaSharing(memory);

    private IommuDomain domain(String name) {
        Iommu unit = IommuBackends.find(TwoLevelBackend.NAME)
                .create(IommuConfig.builder("two-level-4k").name(name).build(), memory);
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    @Test
    void mappingsKeepTheirOrderThroughLateSharingAndUnsharingAnywhere() {
        List<IommuDomain> d = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            d.add(domain("d" + i));
        }
        SharedBuffer b = sharing.allocate(0x4000, List.of(d.get(0), d.get(1)));
        b.shareWith(d.get(2));
        b.shareWith(d.get(3));
        b.shareWith(d.get(4));
        List<Mapping> all = b.mappings();
        assertThat(all).extracting(Mapping::domain).containsExactlyElementsOf(d);
        for (Mapping m : all) {
            assertThat(b.iova(m.domain())).isEqualTo(m.iova());
        }

        b.unshare(d.get(1)); // an inline slot: the third mapping moves into it
        assertThat(b.mappings()).containsExactly(all.get(0), all.get(2), all.get(3), all.get(4));
        b.unshare(d.get(4)); // the last
        b.unshare(d.get(0)); // the first
        assertThat(b.mappings()).containsExactly(all.get(2), all.get(3));
        assertThat(b.isMappedIn(d.get(0))).isFalse();
        assertThat(d.get(0).iovaSpace().allocatedBytes()).isZero();

        long again = b.shareWith(d.get(0));
        assertThat(b.mappings()).containsExactly(all.get(2), all.get(3), new Mapping(d.get(0), again));
        b.close();
        for (IommuDomain x : d) {
            assertThat(x.iovaSpace().allocatedBytes()).as("IOVA left in %s", x).isZero();
        }
        assertThat(memory.allocator().usage().bufferBytes()).isZero();
    }
}
