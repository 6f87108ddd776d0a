package org.dmashare.generic;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/**
 * Runs the kit against {@code lpae-4k} over memory with 16 KiB CPU pages: the granule is smaller
 * than the page size, so table pages and buffer blocks are larger than the granule.
 */
class GenericLpae4kOn16kPagesConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected PhysicalMemory createMemory() {
        return PhysicalMemory.create(0x8_0000_0000L, 1L << 30, 16384);
    }

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return new GenericBackend()
                .create(IommuConfig.builder("lpae-4k").streams(streams).build(), memory);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(1L << 12)
                .pageSizes((1L << 12) | (1L << 21) | (1L << 30))
                .blockMappings(true)
                .build();
    }
}
