package org.dmashare.iommu;

import java.util.Optional;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;

/**
 * A bus master behind one stream of an {@link Iommu}. All its DMA goes through the IOMMU: IOTLB
 * lookup, else a walk of the attached domain's tables in memory, then the protection check. A
 * failed translation or a denied access is recorded in the IOMMU's fault log and thrown. Thread
 * safe.
 */
public interface DmaDevice {

    /**
     * The unit the device sits behind.
     *
     * @return the IOMMU
     */
    Iommu iommu();

    /**
     * The stream ID.
     *
     * @return the SID
     */
    int streamId();

    /**
     * The domain attached now.
     *
     * @return the domain, or empty when blocked
     */
    Optional<IommuDomain> domain();

    /**
     * Attaches the device to {@code domain}, replacing any previous domain, and invalidates the
     * stream's IOTLB entries.
     *
     * @param domain a domain of the same IOMMU
     * @throws InvalidArgumentException if the domain belongs to another IOMMU
     * @throws ObjectClosedException if the domain is closed
     */
    void attach(IommuDomain domain);

    /** Detaches the device: its stream blocks every access. Detaching twice is harmless. */
    void detach();

    /**
     * Reads {@code length} bytes by DMA starting at {@code iova}.
     *
     * @param iova device address
     * @param dst destination
     * @param offset first index in {@code dst}
     * @param length bytes
     * @throws DeviceFaultException if any page of the range faults (bytes before it are copied)
     * @throws InvalidArgumentException if the slice does not fit {@code dst}
     */
    void read(long iova, byte[] dst, int offset, int length);

    /**
     * Reads {@code length} bytes by DMA starting at {@code iova}.
     *
     * @param iova device address
     * @param length bytes
     * @return the bytes
     * @throws DeviceFaultException if any page of the range faults
     */
    default byte[] read(long iova, int length) {
        if (length < 0) {
            throw new InvalidArgumentException("negative DMA length " + length);
        }
        byte[] out = new byte[length];
        read(iova, out, 0, length);
        return out;
    }

    /**
     * Writes {@code length} bytes by DMA starting at {@code iova}.
     *
     * @param iova device address
     * @param src source
     * @param offset first index in {@code src}
     * @param length bytes
     * @throws DeviceFaultException if any page of the range faults (bytes before it are written)
     * @throws InvalidArgumentException if the slice does not fit {@code src}
     */
    void write(long iova, byte[] src, int offset, int length);

    /**
     * Writes all of {@code src} by DMA starting at {@code iova}.
     *
     * @param iova device address
     * @param src the bytes
     * @throws DeviceFaultException if any page of the range faults
     */
    default void write(long iova, byte[] src) {
        write(iova, src, 0, src.length);
    }
}
