package org.dmashare.amd;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.pgtable.UnmapPolicy;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/**
 * Runs the backend conformance kit against {@code amd-v1} with a 48-bit input width: every page
 * size that fits the kit's 1 GiB memory (the size-encoded ones included, the largest at the top of
 * the aperture, which grows the table to mode 4), write-only mappings, and the unmap policy of
 * Linux's generic page-table code.
 */
class AmdConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return new AmdBackend()
                .create(IommuConfig.builder("v1").streams(streams).build(), memory);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(1L << 12)
                .pageSizes(new AmdV1Format(48, 3).pageSizes())
                .blockMappings(true)
                .writeOnly(true)
                .unmapPolicy(UnmapPolicy.WHOLE_ENTRY_FROM_START)
                .tableLifetime(TableLifetime.WHOLE_RANGE)
                .streams(2)
                .build();
    }
}
