/**
 * The model of Linux's iommu-dma path ({@link org.dmashare.dmaapi.IommuDma}, {@link
 * org.dmashare.dmaapi.LinuxDevice}) and the exposure report, over dmashare's memory model and
 * IOMMU backends: the old allocate-export-remap pattern run as the kernel runs it.
 */
module org.dmashare.dmaapi {
    requires transitive org.dmashare.api;

    exports org.dmashare.dmaapi;
}
