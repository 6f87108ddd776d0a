package org.dmashare.dmaapi;

import org.dmashare.Hex;

/**
 * A snapshot of one scatterlist entry ({@code struct scatterlist}): the CPU side (page, offset
 * within it, length) and the DMA side filled in by map_sg.
 *
 * @param page physical address of the entry's first page (page-aligned)
 * @param offset byte offset of the data from {@code page}
 * @param length bytes of data
 * @param dmaAddress {@code sg_dma_address}, {@link SgTable#DMA_MAPPING_ERROR} when unset
 * @param dmaLength {@code sg_dma_len}, 0 when unset
 */
public record SgEntry(long page, long offset, long length, long dmaAddress, long dmaLength) {

    /**
     * The physical address of the entry's first byte ({@code sg_phys}).
     *
     * @return {@code page + offset}
     */
    public long phys() {
        return page + offset;
    }

    @Override
    public String toString() {
        String cpu = "page " + Hex.of(page) + " +" + Hex.of(offset) + " len " + Hex.of(length);
        return dmaLength == 0 ? cpu : cpu + " -> dma " + Hex.of(dmaAddress) + " len " + Hex.of(dmaLength);
    }
}
