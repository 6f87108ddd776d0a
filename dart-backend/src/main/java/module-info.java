/** The Apple DART IOMMU backend ({@code apple-dart}). */
module org.dmashare.dart {
    requires transitive org.dmashare.api;
    requires static com.google.auto.service;

    exports org.dmashare.dart;

    provides org.dmashare.iommu.IommuBackend with
            org.dmashare.dart.DartBackend;
}
