package org.dmashare.examples.dcp;

import java.util.List;
import org.dmashare.DmaShareException;
import org.dmashare.GranuleMismatchException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.dmaapi.Errno;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;

/**
 * The DCP endpoint on {@link DmaSharing}: {@code allocate_buffer} allocates a buffer mapped for the
 * DCP with the PIODMA domain declared as a future domain (so the alignment covers its granule);
 * {@code map_piodma} shares that same buffer with the PIODMA domain, which is guaranteed to give
 * one contiguous range (optionally at the same IOVA, as the later Asahi driver does).
 *
 * <p>The original's bugs are fixed: the id bound is checked before an id is consumed, id 0 is
 * never issued, a full table is answered with an error, mapping errors reach the firmware as a
 * negative errno, and no kernel address is handed to the coprocessor.
 */
public final class MigratedDcpEndpoint implements DcpEndpoint {
    /** Size of the buffer table; ids run from 1 to {@code MAX_BUFFERS - 1}. */
    public static final int MAX_BUFFERS = 128;

    private final DmaSharing sharing;
    private final IommuDomain dcpDomain;
    private final IommuDomain piodmaDomain;
    private final ShareOptions options;
    private final SharedBuffer[] buffers = new SharedBuffer[MAX_BUFFERS];

    /**
     * Creates the endpoint.
     *
     * @param platform the devices and their domains
     * @param sharing the helper over the platform's memory
     * @param identicalIova whether PIODMA maps each buffer at the DCP's IOVA
     */
    public MigratedDcpEndpoint(DcpPlatform platform, DmaSharing sharing, boolean identicalIova) {
        this.sharing = sharing;
        this.dcpDomain = platform.dcpDomain();
        this.piodmaDomain = platform.piodmaDomain();
        this.options = ShareOptions.builder()
                .futureDomains(piodmaDomain)
                .identicalIova(identicalIova)
                .build();
    }

    @Override
    public synchronized AllocateBufferResponse allocateBuffer(AllocateBufferRequest request) {
        long dvaSize = (request.size() + 4095) & -4096L;
        if (request.size() <= 0 || dvaSize <= 0) {
            return new AllocateBufferResponse(Errno.EINVAL.negative(), 0, 0, 0);
        }
        int id = 1;
        while (id < MAX_BUFFERS && buffers[id] != null) {
            id++;
        }
        if (id == MAX_BUFFERS) {
            return new AllocateBufferResponse(Errno.ENOSPC.negative(), 0, 0, 0);
        }
        SharedBuffer buffer;
        try {
            buffer = sharing.allocate(dvaSize, List.of(dcpDomain), options);
        } catch (DmaShareException e) {
            return new AllocateBufferResponse(errno(e), 0, 0, 0);
        }
        buffers[id] = buffer;
        return new AllocateBufferResponse(0, id, buffer.iova(dcpDomain), dvaSize);
    }

    @Override
    public synchronized MapPiodmaResponse mapPiodma(MapPiodmaRequest request) {
        SharedBuffer buffer = buffer(request.buffer());
        if (buffer == null) {
            return new MapPiodmaResponse(Errno.EINVAL.negative(), 0, 0);
        }
        try {
            long dva = buffer.isMappedIn(piodmaDomain) ? buffer.iova(piodmaDomain) : buffer.shareWith(piodmaDomain);
            return new MapPiodmaResponse(0, dva, 0);
        } catch (DmaShareException e) {
            return new MapPiodmaResponse(errno(e), 0, 0);
        }
    }

    /**
     * Releases a buffer: unmapped from both domains, IOTLBs flushed, pages freed.
     *
     * @param id a buffer id
     * @return 0, or {@code -EINVAL} for an unknown id
     */
    public synchronized int releaseBuffer(int id) {
        SharedBuffer buffer = buffer(id);
        if (buffer == null) {
            return Errno.EINVAL.negative();
        }
        buffers[id] = null;
        buffer.close();
        return 0;
    }

    /**
     * The buffer behind an id, for inspection.
     *
     * @param id a buffer id
     * @return the buffer, or null for an unknown id
     */
    public synchronized SharedBuffer buffer(int id) {
        return id > 0 && id < MAX_BUFFERS ? buffers[id] : null;
    }

    /** The errno a failed helper call is answered with. */
    static int errno(DmaShareException e) {
        Errno errno = e instanceof PhysicalMemoryExhaustedException
                ? Errno.ENOMEM
                : e instanceof IovaSpaceExhaustedException
                        ? Errno.ENOSPC
                        : e instanceof MappingConflictException
                                ? Errno.EEXIST
                                : e instanceof GranuleMismatchException ? Errno.EINVAL : Errno.EINVAL;
        return errno.negative();
    }
}
