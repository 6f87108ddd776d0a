package org.dmashare.iommu;

import java.util.Objects;
import org.dmashare.DmaShareException;

/**
 * A device's DMA access could not be translated or was denied by its IOMMU. The same
 * {@link IommuFault} has been recorded in the IOMMU's fault log before this was thrown. Bytes of
 * the access before the faulting page may already have been transferred, as on hardware.
 *
 * <p>It lives beside {@link IommuFault}, the record it carries, so that the root package
 * {@code org.dmashare} (the base exception and its core subtypes) names no other package.
 */
public class DeviceFaultException extends DmaShareException {
    private static final long serialVersionUID = 1L;

    private final transient IommuFault fault;

    /**
     * Creates the exception for a recorded fault.
     *
     * @param fault the fault, as recorded in the IOMMU's fault log
     */
    public DeviceFaultException(IommuFault fault) {
        super(Objects.requireNonNull(fault, "fault").toString());
        this.fault = fault;
    }

    /**
     * Returns the recorded fault.
     *
     * @return the fault: stream, IOVA, access and reason
     */
    public IommuFault fault() {
        return fault;
    }
}
