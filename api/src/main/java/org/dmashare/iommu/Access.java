package org.dmashare.iommu;

/** The direction of a device's DMA access. */
public enum Access {
    /** The device reads memory. */
    READ,
    /** The device writes memory. */
    WRITE
}
