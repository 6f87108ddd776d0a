package org.dmashare;

import java.util.Objects;
import org.dmashare.iommu.IommuFault;

/**
 * A device's DMA access could not be translated or was denied by its IOMMU. The same
 * {@link IommuFault} has been recorded in the IOMMU's fault log before this was thrown. Bytes of
 * the access before the faulting page may already have been transferred, as on hardware.
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
