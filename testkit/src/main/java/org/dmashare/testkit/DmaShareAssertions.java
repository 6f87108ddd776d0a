package org.dmashare.testkit;

import org.dmashare.iommu.Iommu;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.sharing.SharedBuffer;

/**
 * AssertJ entry point for dmashare's domain assertions, for example
 * {@code assertThat(buffer).isContiguousIn(domain).hasNoOverExposure()},
 * {@code assertThat(domain).translates(iova).to(pa)} or
 * {@code assertThat(iommu).hasLoggedFault(0, iova, Access.WRITE, Reason.PERMISSION)}. Statically import {@code assertThat} next to
 * AssertJ's own: the overloads are told apart by argument type.
 *
 * <p>Every assertion reads translations as a device would: through
 * {@link org.dmashare.iommu.Iommu#walk(int, long)} for a stream attached to the domain, which walks
 * the page tables stored in physical memory from the stream's translation registers. A domain with
 * no device attached cannot be walked, and such an assertion fails saying so.
 */
public final class DmaShareAssertions {
    private DmaShareAssertions() {}

    /**
     * Starts assertions about a shared buffer.
     *
     * @param actual the buffer, may be null (the assertion then fails)
     * @return the assertion object
     */
    public static SharedBufferAssert assertThat(SharedBuffer actual) {
        return new SharedBufferAssert(actual);
    }

    /**
     * Starts assertions about an IOMMU unit: its fault log and IOTLB.
     *
     * @param actual the unit, may be null (the assertion then fails)
     * @return the assertion object
     */
    public static IommuAssert assertThat(Iommu actual) {
        return new IommuAssert(actual);
    }

    /**
     * Starts assertions about a domain, read through the hardware walk of an attached stream.
     *
     * @param actual the domain, may be null (the assertion then fails)
     * @return the assertion object
     */
    public static IommuDomainAssert assertThat(IommuDomain actual) {
        return new IommuDomainAssert(actual);
    }
}
