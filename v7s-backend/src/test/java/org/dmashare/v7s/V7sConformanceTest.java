package org.dmashare.v7s;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/**
 * Runs the backend conformance kit against {@code arm-v7s}: every page size including the
 * replicated 64 KiB large pages and 16 MiB supersections, over memory below 4 GiB (the unit's
 * 32-bit output width cannot reach the kit's default memory).
 */
class V7sConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return new V7sBackend()
                .create(IommuConfig.builder("v7s").streams(streams).build(), memory);
    }

    @Override
    protected PhysicalMemory createMemory() {
        return PhysicalMemory.create(0x4000_0000L, 1L << 30, 4096);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(1L << 12)
                .pageSizes(V7sFormat.PAGE_SIZES)
                .blockMappings(true)
                .tableLifetime(TableLifetime.WHOLE_BLOCK)
                .streams(2)
                .build();
    }
}
