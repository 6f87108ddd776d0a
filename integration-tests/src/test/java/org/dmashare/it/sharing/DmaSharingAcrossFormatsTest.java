package org.dmashare.it.sharing;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.it.rig.Rig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/**
 * One buffer shared between three page-table formats the engine carries: ARM v7s (4-byte entries,
 * 1 KiB level-2 tables, replicated leaves), AMD-Vi v1 (size-encoded leaves, growing top) and an
 * Apple DART (16 KiB granule, so A = 16 KiB). Memory sits below 4 GiB, where the v7s unit's
 * 32-bit output width reaches.
 */
class DmaSharingAcrossFormatsTest {
    private final PhysicalMemory memory = PhysicalMemory.create(0x4000_0000L, 1L << 30, 4096);
    private final DmaSharing sharing = new DmaSharing(memory);

    private IommuDomain domain(String backend, String variant) {
        Iommu unit = IommuBackends.find(backend)
                .create(IommuConfig.builder(variant).name(backend).build(), memory);
        IommuDomain d = unit.createDomain();
        unit.device(0).attach(d);
        return d;
    }

    @Test
    void oneBufferIsContiguousInArmV7sAmdV1AndDartAndDmaThroughEachSeesTheSameBytes() {
        IommuDomain v7s = domain("arm-v7s", "v7s");
        IommuDomain amd = domain("amd-v1", "v1");
        IommuDomain dart = domain("apple-dart", "t8020");
        List<IommuDomain> all = List.of(v7s, amd, dart);
        long size = (3L << 20) + 0x14000; // sections, large pages and DART granules all in play
        try (SharedBuffer buffer = sharing.allocate(size, all)) {
            assertThat(buffer.alignment()).as("the DART's 16 KiB granule").isEqualTo(0x4000);
            Rig.assertAligned(buffer);
            for (IommuDomain d : all) {
                Rig.assertContiguous(buffer, d);
            }
            byte[] data = Rig.pattern(0x3000, 7);
            v7s.iommu().device(0).write(buffer.iova(v7s) + 0x10_2000, data);
            assertThat(amd.iommu().device(0).read(buffer.iova(amd) + 0x10_2000, data.length))
                    .isEqualTo(data);
            assertThat(dart.iommu().device(0).read(buffer.iova(dart) + 0x10_2000, data.length))
                    .isEqualTo(data);
            assertThat(buffer.read(0x10_2000, data.length)).isEqualTo(data);
        }
        for (IommuDomain d : all) {
            assertThat(Rig.leaves(d)).as("nothing left mapped in %s", d).isEmpty();
        }
        assertThat(((PagingDomain) v7s).table().tablePages())
                .as("the v7s root and the L2 table of the buffer's"
                        + " partial last megabyte, which __arm_v7s_unmap keeps: no unmap covered its whole 1 MiB")
                .hasSize(2);
    }
}
