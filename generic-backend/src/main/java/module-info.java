/** The generic ARM-LPAE-style IOMMU backend ({@code generic}). */
module org.dmashare.generic {
    requires transitive org.dmashare.api;
    requires static com.google.auto.service;

    exports org.dmashare.generic;

    provides org.dmashare.iommu.IommuBackend with
            org.dmashare.generic.GenericBackend;
}
