/**
 * The core's access to the allocator behind a domain's read-only IOVA space
 * ({@link org.dmashare.iova.internal.DomainIovas}). Not exported, except to the DMA-API model's
 * module, which allocates IOVAs as Linux's iommu-dma does. No locks of its own: the allocator's
 * monitor guards every read and change.
 */
package org.dmashare.iova.internal;
