package org.example.iommu;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/** Every rule of the conformance kit, run against the simple backend found through ServiceLoader. */
class SimpleBackendConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return IommuBackends.find("simple").create(IommuConfig.builder("simple-64k").streams(streams).build(), memory);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(64 * 1024)  // the granule; one page size, no blocks
                .streams(2)
                .writeOnly(true)                // separate read and write bits
                .build();
    }
}
