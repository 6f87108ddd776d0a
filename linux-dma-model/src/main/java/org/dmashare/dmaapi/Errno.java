package org.dmashare.dmaapi;

/** The Linux error numbers the modelled DMA API and the driver models answer with. */
public enum Errno {
    /** I/O error: the swiotlb per-segment path failed (not produced by this model's paths). */
    EIO(5),
    /** No such device or address: {@code dma_get_sgtable} is (made to look) unimplemented. */
    ENXIO(6),
    /** Out of memory: pages, IOVA space or a page-table page could not be allocated. */
    ENOMEM(12),
    /** File exists: the requested address range is already mapped (used by driver models). */
    EEXIST(17),
    /** Invalid argument: the request cannot be mapped as given, or the device cannot use iommu-dma. */
    EINVAL(22),
    /** No space left: no free IOVA range of the requested size (used by driver models). */
    ENOSPC(28),
    /** Remote I/O error: a peer-to-peer page cannot be mapped (not produced by this model's paths). */
    EREMOTEIO(121);

    private final int number;

    Errno(int number) {
        this.number = number;
    }

    /**
     * The positive error number.
     *
     * @return for example 12 for {@link #ENOMEM}
     */
    public int number() {
        return number;
    }

    /**
     * What a kernel function returns for this error.
     *
     * @return the negated number, for example -6 for {@link #ENXIO}
     */
    public int negative() {
        return -number;
    }
}
