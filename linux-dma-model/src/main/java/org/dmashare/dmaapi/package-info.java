/**
 * A model of Linux's DMA API over an IOMMU ({@code drivers/iommu/dma-iommu.c} and the IOVA
 * allocator of {@code drivers/iommu/iova.c}), run on dmashare's modelled hardware so that the old
 * cross-device sharing pattern (coherent allocation for one device, {@code dma_get_sgtable},
 * {@code dma_map_sgtable} for another) can be executed and its failures observed rather than
 * asserted.
 *
 * <p>Entry point: {@link org.dmashare.dmaapi.IommuDma}, configured with a
 * {@link org.dmashare.dmaapi.Profile} (upstream, or Sven Peter's granule series with or without
 * its {@code get_sgtable} guard) and a {@link org.dmashare.dmaapi.PageSource}. A
 * {@link org.dmashare.dmaapi.LinuxDevice} is a {@link org.dmashare.iommu.DmaDevice} attached to a
 * paging domain plus the Linux device parameters ({@link org.dmashare.dmaapi.DeviceParams}); it
 * offers {@code dma_alloc_coherent}, {@code dma_get_sgtable}, {@code dma_map_sg(table)},
 * {@code dma_map_single} and their inverses. {@link org.dmashare.dmaapi.ExposureReport} tells,
 * by walking the page tables in memory, which physical bytes a device can reach that do not
 * belong to the buffer it was given.
 *
 * <p>Every outcome (refusal, non-contiguous DMA segments, over-exposure, wrong data) follows
 * from the modelled rules; nothing is special-cased. The rules are described in the project's
 * reference {@code iommu-dma.md}; no kernel code is copied.
 *
 * <h2>Modelling decisions</h2>
 * <ul>
 *   <li><b>Errors.</b> Where the kernel returns NULL, {@code DMA_MAPPING_ERROR} or a negative
 *       errno, the model throws {@link org.dmashare.dmaapi.DmaApiException} carrying the
 *       {@link org.dmashare.dmaapi.Errno}; a driver model catches it and propagates
 *       {@code errno().negative()} (or ignores it, as the old DCP code ignored
 *       {@code dma_get_sgtable}'s result). As in the kernel, the failed call has undone its own
 *       work first.</li>
 *   <li><b>Physical placement.</b> Buffer pages come from a {@link org.dmashare.dmaapi.PageSource}
 *       (alloc_pages / split_page / free_page). The default is the buddy allocator; a
 *       {@link org.dmashare.dmaapi.ScriptedPageSource} hands out planned addresses through the same
 *       allocator's accounting, which is how tests reproduce the reference's physical addresses
 *       without the model knowing.</li>
 *   <li><b>Page sizes.</b> The granule is the lowest page size the domain advertises.
 *       {@link org.dmashare.dmaapi.IommuDma.Builder#pageSizeMask} restricts what iommu-dma sees,
 *       as Apple's DART driver advertises only its 16 KiB page, so a 16 KiB LPAE domain can stand
 *       in for a DART without changing the model.</li>
 *   <li><b>IOVA state</b> follows iova.c: size-aligned top-down placement from cached positions,
 *       power-of-two rounding below 32 granules, and the range cache, modelled for one CPU.</li>
 *   <li><b>Not modelled:</b> per-device and per-NUMA CMA areas (one global area is), swiotlb bouncing for untrusted devices, PCI P2PDMA,
 *       dma-direct (devices without a paging domain are refused), lazy flush queues (every unmap
 *       flushes the IOTLB before the IOVA is freed), cache maintenance.</li>
 * </ul>
 */
package org.dmashare.dmaapi;
