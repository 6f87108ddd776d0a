package org.dmashare.examples.flat;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuBackends;
import org.dmashare.iommu.IommuConfig;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.testkit.Capabilities;
import org.dmashare.testkit.IommuBackendConformanceKit;

/**
 * The flat backend passes the conformance kit. The unit is created through ServiceLoader
 * discovery, as an application would, so the kit also proves the {@code @AutoService}
 * registration works.
 */
class FlatBackendConformanceTest extends IommuBackendConformanceKit {

    @Override
    protected Iommu createIommu(PhysicalMemory memory, int streams) {
        return IommuBackends.find("flat")
                .create(IommuConfig.builder("flat-64k").streams(streams).build(), memory);
    }

    @Override
    protected Capabilities capabilities() {
        return Capabilities.builder(64 * 1024) // one page size, no blocks
                .streams(2)
                .writeOnly(true) // the format has separate read and write bits
                .build();
    }
}
