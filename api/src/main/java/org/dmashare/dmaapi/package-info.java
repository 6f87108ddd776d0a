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
 */
package org.dmashare.dmaapi;
