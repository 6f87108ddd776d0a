package org.dmashare.testkit;

import java.util.Comparator;
import java.util.Optional;
import org.dmashare.iommu.DmaDevice;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Translation;

/** Reads a domain the way a device does: the hardware walk of the lowest attached stream. */
final class HardwareView {
    private HardwareView() {}

    /** The stream the walk goes through, or -1 if no device is attached. */
    static int stream(IommuDomain domain) {
        return domain.devices().stream()
                .map(DmaDevice::streamId)
                .min(Comparator.naturalOrder())
                .orElse(-1);
    }

    static String noStream(IommuDomain domain) {
        return domain + " has no device attached: the hardware walk goes through a stream's translation registers,"
                + " so attach a device to the domain before asserting about its translations";
    }

    static Optional<Translation> walk(IommuDomain domain, int sid, long iova) {
        return domain.iommu().walk(sid, iova);
    }
}
