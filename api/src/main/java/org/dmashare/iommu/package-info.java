/**
 * The IOMMU backend SPI: {@link org.dmashare.iommu.IommuBackend} (found with
 * {@link java.util.ServiceLoader} through {@link org.dmashare.iommu.IommuBackends}) creates
 * {@link org.dmashare.iommu.Iommu} units, which create {@link org.dmashare.iommu.IommuDomain}
 * address spaces and hand out the {@link org.dmashare.iommu.DmaDevice} behind each stream.
 *
 * <p>Domain semantics follow Linux io-pgtable and iommufd: {@code map} needs IOVA, physical
 * address and size aligned to the granule and fails on an existing valid entry; {@code unmap}
 * must cover whole mappings and returns the bytes unmapped. Devices reach memory only through the
 * IOTLB and a walk of the page tables stored in {@link org.dmashare.memory.PhysicalMemory}; a
 * translation stays in the IOTLB until the domain's IOTLB is flushed.
 */
package org.dmashare.iommu;
