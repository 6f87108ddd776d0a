/** The AMD-Vi v1 IOMMU backend ({@code amd-v1}). */
module org.dmashare.amd {
    requires org.dmashare.api;
    requires static com.google.auto.service;

    exports org.dmashare.amd;

    provides org.dmashare.iommu.IommuBackend with
            org.dmashare.amd.AmdBackend;
}
