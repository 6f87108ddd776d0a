package org.dmashare.testkit;

import java.util.List;
import org.assertj.core.api.AbstractAssert;
import org.dmashare.Hex;
import org.dmashare.iommu.Access;
import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuFault;

/**
 * Assertions about an {@link Iommu} unit: its fault log and its IOTLB. Obtain one with
 * {@link DmaShareAssertions#assertThat(Iommu)}. Failures list what the log holds.
 */
public final class IommuAssert extends AbstractAssert<IommuAssert, Iommu> {

    IommuAssert(Iommu actual) {
        super(actual, IommuAssert.class);
    }

    /**
     * Asserts that the fault log is empty.
     *
     * @return this
     * @throws AssertionError listing the logged faults if any
     */
    public IommuAssert hasNoFaults() {
        isNotNull();
        List<IommuFault> log = actual.faults();
        if (!log.isEmpty()) {
            failWithMessage("expected no faults logged by %s, but it logged %s", actual, log);
        }
        return this;
    }

    /**
     * Asserts that the fault log holds a fault with these fields (any backend code).
     *
     * @param streamId the stream
     * @param iova the faulting device address
     * @param access read or write
     * @param reason why it faulted
     * @return this
     * @throws AssertionError listing the logged faults if none matches
     */
    public IommuAssert hasLoggedFault(int streamId, long iova, Access access, IommuFault.Reason reason) {
        isNotNull();
        List<IommuFault> log = actual.faults();
        for (IommuFault f : log) {
            if (f.streamId() == streamId && f.iova() == iova && f.access() == access && f.reason() == reason) {
                return this;
            }
        }
        failWithMessage(
                "expected %s to have logged a %s fault for %s by stream %d at IOVA %s, but its log holds %s",
                actual, reason, access, streamId, Hex.of(iova), log);
        return this;
    }

    /**
     * Asserts that the IOTLB caches nothing.
     *
     * @return this
     * @throws AssertionError with the number of cached translations otherwise
     */
    public IommuAssert hasEmptyIotlb() {
        isNotNull();
        if (actual.iotlbSize() != 0) {
            failWithMessage(
                    "expected the IOTLB of %s to be empty, but it caches %d translations", actual, actual.iotlbSize());
        }
        return this;
    }
}
