package org.dmashare.generic;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/** The kit against {@code lpae-4k} with the contiguous hint: 64 KiB and 32 MiB runs of 16 entries. */
class GenericLpae4kContiguousConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return new GenericBackend()
                .create(
                        IommuConfig.builder("lpae-4k")
                                .streams(streams)
                                .option("contiguous", "true")
                                .build(),
                        memory);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(1L << 12)
                .pageSizes((1L << 12) | (1L << 16) | (1L << 21) | (1L << 25) | (1L << 30))
                .blockMappings(true)
                .streams(2)
                .build();
    }
}
