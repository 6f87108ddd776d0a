/**
 * Building blocks for backend authors: {@link org.dmashare.iommu.support.AbstractIommu} holds what
 * every IOMMU unit has (streams, devices, fault log, IOTLB, the device DMA path) and leaves the
 * hardware-specific parts (registers, the walk from a stream's translation base, invalidation) to
 * the backend; {@link org.dmashare.iommu.support.PagingDomain} is a paging domain over the shared
 * {@link org.dmashare.pgtable.IoPageTable} engine. A backend supplies a
 * {@link org.dmashare.pgtable.PteFormat} and a handful of methods.
 */
package org.dmashare.iommu.support;
