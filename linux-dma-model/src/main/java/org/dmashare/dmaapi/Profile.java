package org.dmashare.dmaapi;

/**
 * Which iommu-dma is modelled. The profiles differ only where the IOVA granule G is larger than
 * the CPU page size P; with G &le; P all three behave as upstream Linux.
 */
public enum Profile {
    /**
     * Upstream Linux (5.15 and every 6.x): an IOVA domain whose granule exceeds the CPU page is
     * refused when the device is set up ({@code init_iova_domain}), so no iommu-dma exists for it.
     * A scatterlist segment's granule offset is taken from its in-page offset only.
     */
    UPSTREAM(false, false),
    /**
     * Sven Peter's "IOMMU page size larger than the CPU page size" series as carried by
     * Asahi-derived kernels: G &gt; P allowed, granule offsets taken from the physical address,
     * coherent allocations built from granule-sized blocks (with spillover pages), and
     * {@code dma_get_sgtable} answering {@code -ENXIO} when G &gt; P.
     */
    ASAHI_GRANULE(true, true),
    /**
     * The series without its {@code get_sgtable} guard: what the series' allocation and map_sg
     * rules produce when a coherent buffer is exported as a table and mapped for another device.
     */
    ASAHI_GRANULE_NO_SGTABLE_GUARD(true, false);

    private final boolean largeGranules;
    private final boolean sgtableGuard;

    Profile(boolean largeGranules, boolean sgtableGuard) {
        this.largeGranules = largeGranules;
        this.sgtableGuard = sgtableGuard;
    }

    /**
     * Whether an IOVA granule larger than the CPU page is accepted (the series' rules apply).
     *
     * @return true for the Asahi profiles
     */
    public boolean allowsGranuleAbovePage() {
        return largeGranules;
    }

    /**
     * Whether {@code dma_get_sgtable} refuses with {@code -ENXIO} when the granule exceeds the
     * CPU page.
     *
     * @return true for {@link #ASAHI_GRANULE}
     */
    public boolean guardsGetSgtable() {
        return sgtableGuard;
    }
}
