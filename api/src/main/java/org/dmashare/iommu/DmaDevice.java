package org.dmashare.iommu;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;
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
     * Reads {@code length} bytes by DMA starting at {@code iova} into a new array.
     *
     * <p>The range is translated as it is read, in chunks of 1 MiB, and the result grows with what
     * was reached: an access that faults fails before an array much larger than the bytes the
     * device actually reached exists, so {@code read(iova, Integer.MAX_VALUE)} on an unmapped
     * IOVA faults rather than exhausting the heap. For large transfers prefer
     * {@link #read(long, byte[], int, int)} or {@link #read(long, ByteBuffer)} into a buffer you own.
     *
     * @param iova device address
     * @param length bytes, not negative
     * @return the bytes
     * @throws InvalidArgumentException if {@code length} is negative
     * @throws DeviceFaultException if any page of the range faults
     */
    default byte[] read(long iova, int length) {
        if (length < 0) {
            throw new InvalidArgumentException("negative DMA length " + length);
        }
        int chunk = 1 << 20;
        if (length <= chunk) {
            byte[] out = new byte[length];
            read(iova, out, 0, length);
            return out;
        }
        byte[] out = new byte[chunk];
        int done = 0;
        while (done < length) {
            int n = Math.min(chunk, length - done);
            if (out.length < done + n) {
                out = Arrays.copyOf(out, (int) Math.min(length, Math.max(2L * out.length, (long) done + n)));
            }
            read(iova + done, out, done, n);
            done += n;
        }
        return out;
    }

    /**
     * Reads {@code dst.remaining()} bytes by DMA starting at {@code iova} into {@code dst}, heap
     * or direct, without allocating a buffer of that size. On success the position advances by
     * the bytes read; on a fault it is unchanged (bytes before the faulting page may have been
     * stored).
     *
     * @param iova device address
     * @param dst where to store the bytes, from its position
     * @throws NullPointerException if {@code dst} is null
     * @throws InvalidArgumentException if {@code dst} is read-only
     * @throws DeviceFaultException if any page of the range faults
     */
    default void read(long iova, ByteBuffer dst) {
        Objects.requireNonNull(dst, "dst");
        if (dst.isReadOnly()) {
            throw new InvalidArgumentException("cannot DMA into a read-only buffer " + dst);
        }
        int n = dst.remaining();
        int at = dst.position();
        if (dst.hasArray()) {
            read(iova, dst.array(), dst.arrayOffset() + at, n);
        } else {
            byte[] chunk = new byte[Math.min(n, 1 << 16)];
            for (int done = 0; done < n; ) {
                int k = Math.min(chunk.length, n - done);
                read(iova + done, chunk, 0, k);
                dst.put(at + done, chunk, 0, k);
                done += k;
            }
        }
        dst.position(at + n);
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
