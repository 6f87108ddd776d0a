package org.dmashare.dmaapi;

import org.dmashare.iommu.Prot;

/** The direction of a streaming DMA mapping, as Linux's {@code enum dma_data_direction}. */
public enum DataDirection {
    /** The device reads and writes: mapped read/write. */
    BIDIRECTIONAL,
    /** The device only reads: mapped read-only. */
    TO_DEVICE,
    /** The device only writes: mapped write-only (formats that cannot express it refuse the map). */
    FROM_DEVICE;

    /**
     * The IOMMU rights for this direction ({@code dma_info_to_prot}).
     *
     * @param coherent whether the device is cache-coherent (adds the cache attribute)
     * @return the rights
     */
    public Prot prot(boolean coherent) {
        Prot p;
        switch (this) {
            case TO_DEVICE:
                p = Prot.READ;
                break;
            case FROM_DEVICE:
                p = Prot.WRITE;
                break;
            default:
                p = Prot.READ_WRITE;
        }
        return coherent ? p.withCache() : p;
    }
}
