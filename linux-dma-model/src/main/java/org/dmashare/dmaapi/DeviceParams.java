package org.dmashare.dmaapi;

import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;

/**
 * The Linux-side parameters of a device that decide how iommu-dma treats it.
 *
 * @param name the device name used in messages
 * @param dmaMask the streaming DMA mask ({@code dma_get_mask}), used by map_sg and map_single
 * @param coherentDmaMask the coherent DMA mask, used by {@code dma_alloc_coherent}
 * @param busDmaLimit the bus limit ({@code dev->bus_dma_limit}), 0 for none
 * @param maxSegmentSize {@code dma_get_max_seg_size}: longest DMA segment map_sg may produce
 * @param segmentBoundaryMask {@code dma_get_seg_boundary}: no DMA segment may cross a multiple of
 *     mask + 1; -1 (ULONG_MAX) for none
 * @param coherent whether the device is cache-coherent ({@code dev_is_dma_coherent})
 * @param pci whether it is a PCI device (gets the below-4-GiB-first IOVA attempt)
 */
public record DeviceParams(
        String name,
        long dmaMask,
        long coherentDmaMask,
        long busDmaLimit,
        long maxSegmentSize,
        long segmentBoundaryMask,
        boolean coherent,
        boolean pci) {

    /** {@code DMA_BIT_MASK(32)}, the default mask of a platform device. */
    public static final long MASK_32 = 0xFFFF_FFFFL;
    /** The maximum segment size when a driver never sets one: 64 KiB. */
    public static final long DEFAULT_MAX_SEGMENT = 0x1_0000L;

    /**
     * Validates the parameters.
     *
     * @param name the device name
     * @param dmaMask streaming mask, not 0
     * @param coherentDmaMask coherent mask, not 0
     * @param busDmaLimit bus limit or 0
     * @param maxSegmentSize positive, at most 2^32 - 1 (an unsigned int in Linux)
     * @param segmentBoundaryMask a power of two minus one, or -1
     * @param coherent cache-coherent
     * @param pci PCI device
     * @throws InvalidArgumentException if a value is out of range
     */
    public DeviceParams {
        Objects.requireNonNull(name, "name");
        if (dmaMask == 0 || coherentDmaMask == 0) {
            throw new InvalidArgumentException("device " + name + ": DMA masks must not be 0, got streaming "
                    + Hex.of(dmaMask) + " coherent " + Hex.of(coherentDmaMask));
        }
        if (maxSegmentSize <= 0 || maxSegmentSize > 0xFFFF_FFFFL) {
            throw new InvalidArgumentException(
                    "device " + name + ": max segment size must be 1..0xffff_ffff, got " + Hex.of(maxSegmentSize));
        }
        if ((segmentBoundaryMask & (segmentBoundaryMask + 1)) != 0) {
            throw new InvalidArgumentException(
                    "device " + name + ": segment boundary mask must be 2^n - 1, got " + Hex.of(segmentBoundaryMask));
        }
    }

    /**
     * A platform device with Linux's defaults: 32-bit masks, no bus limit, 64 KiB maximum
     * segment, no segment boundary, not coherent, not PCI.
     *
     * @param name the device name
     * @return the parameters
     */
    public static DeviceParams platform(String name) {
        return new DeviceParams(name, MASK_32, MASK_32, 0, DEFAULT_MAX_SEGMENT, -1L, false, false);
    }

    /**
     * The same with both DMA masks set ({@code dma_set_mask_and_coherent}).
     *
     * @param mask the new mask
     * @return a copy
     */
    public DeviceParams withMasks(long mask) {
        return new DeviceParams(name, mask, mask, busDmaLimit, maxSegmentSize, segmentBoundaryMask, coherent, pci);
    }

    /**
     * The same with another maximum segment size ({@code dma_set_max_seg_size}).
     *
     * @param size the new size
     * @return a copy
     */
    public DeviceParams withMaxSegmentSize(long size) {
        return new DeviceParams(name, dmaMask, coherentDmaMask, busDmaLimit, size, segmentBoundaryMask, coherent, pci);
    }

    /**
     * The same with another segment boundary ({@code dma_set_seg_boundary}).
     *
     * @param mask 2^n - 1, or -1 for none
     * @return a copy
     */
    public DeviceParams withSegmentBoundaryMask(long mask) {
        return new DeviceParams(name, dmaMask, coherentDmaMask, busDmaLimit, maxSegmentSize, mask, coherent, pci);
    }

    /**
     * The same, cache-coherent or not.
     *
     * @param isCoherent whether the device snoops CPU caches
     * @return a copy
     */
    public DeviceParams withCoherent(boolean isCoherent) {
        return new DeviceParams(
                name, dmaMask, coherentDmaMask, busDmaLimit, maxSegmentSize, segmentBoundaryMask, isCoherent, pci);
    }

    /**
     * The same as a PCI device or not.
     *
     * @param isPci whether the device sits on PCI
     * @return a copy
     */
    public DeviceParams withPci(boolean isPci) {
        return new DeviceParams(
                name, dmaMask, coherentDmaMask, busDmaLimit, maxSegmentSize, segmentBoundaryMask, coherent, isPci);
    }

    /**
     * The same with a bus DMA limit.
     *
     * @param limit highest reachable bus address, or 0 for none
     * @return a copy
     */
    public DeviceParams withBusDmaLimit(long limit) {
        return new DeviceParams(
                name, dmaMask, coherentDmaMask, limit, maxSegmentSize, segmentBoundaryMask, coherent, pci);
    }
}
