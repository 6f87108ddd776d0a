/**
 * dmashare's core: the safe sharing helper, the IOMMU backend SPI, the memory model, the IOVA
 * allocator, the page-table engine and the optional Guice module.
 */
module org.dmashare.api {
    requires static com.google.guice;

    exports org.dmashare;
    exports org.dmashare.memory;
    exports org.dmashare.iova;
    exports org.dmashare.iommu;
    exports org.dmashare.iommu.support;
    exports org.dmashare.pgtable;
    exports org.dmashare.sharing;
    exports org.dmashare.dmaapi;
    exports org.dmashare.inject;
    // Only for the @GuardedBy annotation (class-file retention: no run-time use).
    exports org.dmashare.internal to org.dmashare.dart;

    opens org.dmashare.inject to com.google.guice;

    uses org.dmashare.iommu.IommuBackend;
}
