/** The ARM v7 short-descriptor IOMMU backend ({@code arm-v7s}). */
module org.dmashare.v7s {
    requires org.dmashare.api;
    requires static com.google.auto.service;

    exports org.dmashare.v7s;

    provides org.dmashare.iommu.IommuBackend with
            org.dmashare.v7s.V7sBackend;
}
