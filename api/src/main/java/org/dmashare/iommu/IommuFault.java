package org.dmashare.iommu;

import java.util.Objects;
import org.dmashare.Hex;

/**
 * One fault an IOMMU recorded for a device access: which unit and stream, which IOVA, which kind
 * of access and why. Recorded in {@link Iommu#faults()} and carried by
 * {@link DeviceFaultException}.
 *
 * @param iommu name of the IOMMU instance
 * @param streamId the stream (SID) of the device
 * @param iova the address the device used
 * @param access read or write
 * @param reason why the access failed
 * @param code the backend's name for the fault (for DART the error bit, for example
 *     {@code NO_PTE}); never null
 */
public record IommuFault(String iommu, int streamId, long iova, Access access, Reason reason, String code) {

    /** Why an access faulted. */
    public enum Reason {
        /** No domain attached, or the stream is blocked. */
        BLOCKED,
        /** The IOVA lies outside the input address range the tables can translate. */
        ADDRESS_SIZE,
        /** No valid translation: a table or leaf entry on the walk was invalid. */
        TRANSLATION,
        /** The mapping exists but forbids this access (read-only, write-only). */
        PERMISSION,
        /** The access falls outside a page's sub-page protection window. */
        SUBPAGE
    }

    /**
     * Validates the fields.
     *
     * @param iommu name of the IOMMU instance
     * @param streamId the stream (SID) of the device
     * @param iova the address the device used
     * @param access read or write
     * @param reason why the access failed
     * @param code the backend's name for the fault
     */
    public IommuFault {
        Objects.requireNonNull(iommu, "iommu");
        Objects.requireNonNull(access, "access");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(code, "code");
    }

    @Override
    public String toString() {
        return "IOMMU fault on " + iommu + " stream " + streamId + ": " + access + " at IOVA " + Hex.of(iova) + ": "
                + reason + " (" + code + ")";
    }
}
