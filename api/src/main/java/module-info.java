/**
 * dmashare's core: the safe sharing helper, the IOMMU backend SPI and its support classes, the
 * memory model, the IOVA allocator and the page-table engine. It needs nothing outside the JDK;
 * the Linux DMA-API model ({@code org.dmashare.dmaapi}) and the Guice module ({@code
 * org.dmashare.inject}) are modules of their own.
 */
module org.dmashare.api {
    exports org.dmashare;
    exports org.dmashare.memory;
    exports org.dmashare.iova;
    exports org.dmashare.iommu;
    exports org.dmashare.iommu.support;
    exports org.dmashare.pgtable;
    exports org.dmashare.sharing;
    // Only for the @GuardedBy annotation (class-file retention: no run-time use).
    exports org.dmashare.internal to
            org.dmashare.dart;
    // The allocator behind a domain's read-only IOVA space, for the DMA-API model's iommu-dma.
    exports org.dmashare.iova.internal to
            org.dmashare.dmaapi;

    uses org.dmashare.iommu.IommuBackend;
}
