package org.dmashare.generic;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/** Runs the backend conformance kit against the generic backend's {@code lpae-4k} variant. */
class GenericLpae4kConformanceTest extends IommuBackendConformanceKit {

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
                .streams(2)
                .build();
    }
}
