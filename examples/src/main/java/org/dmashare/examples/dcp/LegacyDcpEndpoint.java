package org.dmashare.examples.dcp;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.dmaapi.CoherentBuffer;
import org.dmashare.dmaapi.DataDirection;
import org.dmashare.dmaapi.DeviceParams;
import org.dmashare.dmaapi.DmaApiException;
import org.dmashare.dmaapi.Gfp;
import org.dmashare.dmaapi.IommuDma;
import org.dmashare.dmaapi.LinuxDevice;
import org.dmashare.dmaapi.SgTable;

/**
 * The DCP endpoint as the 2021 driver wrote it, on the modelled Linux DMA API:
 * {@code allocate_buffer} does {@code dma_alloc_coherent} on the DCP and keeps the buffer's
 * {@code dma_get_sgtable}; {@code map_piodma} maps that table for the PIODMA device with
 * {@code dma_map_sgtable} and hands the first segment's address to the firmware, assuming the
 * range is contiguous.
 *
 * <p>Its bugs are kept on purpose, because the demo shows what they do: the buffer id is consumed
 * before the table bound is checked and a full table is only logged; the return values of
 * {@code dma_alloc_coherent} and {@code dma_get_sgtable} are ignored; a failed
 * {@code dma_map_sgtable} is answered with success. Everything else that goes wrong (refusal,
 * padding, exposure of neighbouring memory, wrong data) comes from the DMA-API model.
 */
public final class LegacyDcpEndpoint implements DcpEndpoint {
    /** Size of the driver's mapping table, as in the original ({@code mappings[]}). */
    public static final int MAX_MAPPINGS = 128;
    /** The answer the original gives to a rejected {@code map_piodma}. */
    public static final int REJECT = 1;

    private final LinuxDevice dcp;
    private final LinuxDevice piodma;
    private final CoherentBuffer[] buffers = new CoherentBuffer[MAX_MAPPINGS];
    private final SgTable[] mappings = new SgTable[MAX_MAPPINGS];
    private final List<String> kernelLog = new ArrayList<>();
    private int nrMappings;

    /**
     * Probes both devices for iommu-dma, as the driver's probe (through the DMA core) does.
     *
     * @param platform the devices and their domains
     * @param dma the modelled kernel
     * @throws DmaApiException if iommu-dma refuses a device (for example {@code EINVAL} under the
     *     upstream profile, where a 16 KiB granule exceeds a 4 KiB PAGE_SIZE)
     */
    public LegacyDcpEndpoint(DcpPlatform platform, IommuDma dma) {
        this.dcp = dma.probe(platform.dcp(), DeviceParams.platform("dcp"));
        this.piodma = dma.probe(platform.piodma(), DeviceParams.platform("piodma"));
    }

    @Override
    public synchronized AllocateBufferResponse allocateBuffer(AllocateBufferRequest request) {
        long dvaSize = (request.size() + 4095) & -4096L;
        int id = ++nrMappings;
        if (id >= MAX_MAPPINGS) {
            kernelLog.add("DCP overflowed mapping table, ignoring");
            return new AllocateBufferResponse(0, id, 0, dvaSize);
        }
        CoherentBuffer buf;
        try {
            buf = dcp.allocCoherent(dvaSize, Gfp.KERNEL);
        } catch (DmaApiException e) {
            kernelLog.add("dma_alloc_coherent: " + e.getMessage());
            return new AllocateBufferResponse(0, id, 0, dvaSize);
        }
        buffers[id] = buf;
        try {
            mappings[id] = dcp.getSgtable(buf, dvaSize);
        } catch (DmaApiException ignoredByTheDriver) {
            kernelLog.add(
                    "dma_get_sgtable returned " + ignoredByTheDriver.errno().negative() + " (ignored)");
        }
        return new AllocateBufferResponse(0, id, buf.dmaHandle(), dvaSize);
    }

    @Override
    public synchronized MapPiodmaResponse mapPiodma(MapPiodmaRequest request) {
        if (Integer.compareUnsigned(request.buffer(), MAX_MAPPINGS) >= 0 || mappings[request.buffer()] == null) {
            kernelLog.add("denying map of invalid buffer " + request.buffer() + " for piodma");
            return new MapPiodmaResponse(REJECT, 0, 0);
        }
        SgTable map = mappings[request.buffer()];
        long dva = 0;
        try {
            piodma.mapSgtable(map, DataDirection.BIDIRECTIONAL);
            dva = map.dmaSegments().get(0).address();
        } catch (DmaApiException e) {
            kernelLog.add("failed to map for piodma " + e.errno().negative());
        }
        return new MapPiodmaResponse(0, dva, 0);
    }

    /**
     * The coherent buffer behind an id, for inspection.
     *
     * @param id a buffer id
     * @return the buffer, or null
     */
    public synchronized CoherentBuffer buffer(int id) {
        return id > 0 && id < MAX_MAPPINGS ? buffers[id] : null;
    }

    /**
     * The scatter-gather table kept for an id, mapped for PIODMA once {@code map_piodma} succeeded.
     *
     * @param id a buffer id
     * @return the table, or null when none was kept
     */
    public synchronized SgTable mapping(int id) {
        return id > 0 && id < MAX_MAPPINGS ? mappings[id] : null;
    }

    /**
     * The PIODMA device as iommu-dma sees it.
     *
     * @return the Linux device
     */
    public LinuxDevice piodmaDevice() {
        return piodma;
    }

    /**
     * What the driver logged.
     *
     * @return the messages, oldest first
     */
    public synchronized List<String> kernelLog() {
        return List.copyOf(kernelLog);
    }
}
