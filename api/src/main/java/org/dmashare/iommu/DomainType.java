package org.dmashare.iommu;

/** The kinds of domain an {@link Iommu} can create, as Linux's {@code IOMMU_DOMAIN_*}. */
public enum DomainType {
    /** Translates through page tables the domain owns (an unmanaged or DMA domain). */
    PAGING,
    /** Devices use physical addresses directly (bypass); only where the hardware supports it. */
    IDENTITY,
    /** Every access faults. */
    BLOCKED
}
