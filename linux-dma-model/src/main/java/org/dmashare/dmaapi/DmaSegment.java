package org.dmashare.dmaapi;

import org.dmashare.Hex;

/**
 * One DMA segment a mapped scatterlist hands to the device: {@code sg_dma_address} and
 * {@code sg_dma_len} of an output entry.
 *
 * @param address the device address of the segment's first byte
 * @param length its length in bytes
 */
public record DmaSegment(long address, long length) {
    /**
     * One past the last device address.
     *
     * @return {@code address + length}
     */
    public long end() {
        return address + length;
    }

    @Override
    public String toString() {
        return "(" + Hex.of(address) + ", " + Hex.of(length) + ")";
    }
}
