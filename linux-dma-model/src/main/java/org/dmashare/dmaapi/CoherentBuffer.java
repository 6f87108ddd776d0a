package org.dmashare.dmaapi;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.ObjectClosedException;
import org.dmashare.memory.PhysicalMemory;
import org.dmashare.sharing.ScatterList;

/**
 * A buffer from {@link LinuxDevice#allocCoherent}: what {@code dma_alloc_coherent} returns (the
 * CPU address, here the CPU's view of the pages) together with the DMA handle. It remembers how
 * it was built, because {@code dma_get_sgtable} and {@code dma_free_coherent} depend on it: a
 * remap buffer has a page array (pages need not be adjacent), a contiguous one a single physical
 * range. Freed by {@link LinuxDevice#freeCoherent}; afterwards CPU access throws.
 */
public final class CoherentBuffer {

    /** Which allocation path built the buffer. */
    public enum Path {
        /** Blocking, not forced contiguous: pages gathered into an array, vmapped, one IOVA range. */
        REMAP,
        /** Non-blocking on a non-coherent device: carved from the atomic pool. */
        ATOMIC_POOL,
        /** Exactly PAGE_ALIGN(size) contiguous pages from the CMA area (blocking, forced contiguous). */
        CMA,
        /** Contiguous pages from the page allocator (one block of order get_order(size)). */
        CONTIGUOUS_PAGES
    }

    private final LinuxDevice device;
    private final Path path;
    private final long size;
    private final long dmaHandle;
    private final long[] pages;
    private final long contiguousPa;
    private final long ownedBytes;
    private volatile boolean freed;

    CoherentBuffer(
            LinuxDevice device,
            Path path,
            long size,
            long dmaHandle,
            long[] pages,
            long contiguousPa,
            long ownedBytes) {
        this.device = device;
        this.path = path;
        this.size = size;
        this.dmaHandle = dmaHandle;
        this.pages = pages;
        this.contiguousPa = contiguousPa;
        this.ownedBytes = ownedBytes;
    }

    /**
     * The device it was allocated for.
     *
     * @return the device
     */
    public LinuxDevice device() {
        return device;
    }

    /**
     * The allocation path taken.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The size the caller asked for.
     *
     * @return bytes
     */
    public long size() {
        return size;
    }

    /**
     * The DMA handle ({@code *dma_handle}): the device address of byte 0 in the allocating
     * device's domain.
     *
     * @return the device address
     */
    public long dmaHandle() {
        return dmaHandle;
    }

    /**
     * Whether the buffer has a page array (only remap buffers do; {@code dma_common_find_pages}).
     *
     * @return true for {@link Path#REMAP}
     */
    public boolean hasPageArray() {
        return pages != null;
    }

    /**
     * The pages of a remap buffer in buffer order.
     *
     * @return a copy of the page array
     * @throws InvalidArgumentException if the buffer has no page array
     */
    public long[] pages() {
        if (pages == null) {
            throw new InvalidArgumentException("a " + path + " buffer has no page array");
        }
        return pages.clone();
    }

    /**
     * The first physical address of a contiguous buffer ({@code page_to_phys} of its first page).
     *
     * @return the address, or the first page of the array for a remap buffer
     */
    public long firstPage() {
        return pages != null ? pages[0] : contiguousPa;
    }

    /**
     * The physical memory the buffer owns, as runs: the page array's pages, or the contiguous
     * block (the whole buddy block for {@link Path#CONTIGUOUS_PAGES}, the page-aligned size for
     * the pool and CMA). Spillover pages freed during allocation are not owned.
     *
     * @return the owned ranges, adjacent ones merged
     */
    public ScatterList ownedRanges() {
        int p = device.pageSize();
        List<ScatterList.Segment> out = new ArrayList<>();
        if (pages != null) {
            for (long page : pages) {
                out.add(new ScatterList.Segment(page, p));
            }
        } else {
            out.add(new ScatterList.Segment(contiguousPa, ownedBytes));
        }
        return ScatterList.of(out).merged();
    }

    long ownedBytes() {
        return ownedBytes;
    }

    long contiguousPa() {
        return contiguousPa;
    }

    long[] pageArray() {
        return pages;
    }

    /**
     * The physical address of byte {@code offset} as the CPU sees the buffer.
     *
     * @param offset 0 .. size()-1
     * @return the physical address
     * @throws InvalidArgumentException if the offset is outside the buffer
     */
    public long physicalAddress(long offset) {
        if (offset < 0 || offset >= size) {
            throw new InvalidArgumentException(
                    "offset " + Hex.of(offset) + " is outside the buffer's " + Hex.size(size));
        }
        if (pages == null) {
            return contiguousPa + offset;
        }
        int p = device.pageSize();
        return pages[(int) (offset / p)] + offset % p;
    }

    /**
     * Writes bytes through the CPU mapping.
     *
     * @param offset where in the buffer
     * @param data the bytes
     * @throws InvalidArgumentException if the range is outside the buffer
     * @throws ObjectClosedException if the buffer was freed
     */
    public void write(long offset, byte[] data) {
        Objects.requireNonNull(data, "data");
        checkRange(offset, data.length);
        PhysicalMemory memory = device.memory();
        int done = 0;
        while (done < data.length) {
            long pa = physicalAddress(offset + done);
            int n = (int) Math.min(data.length - done, device.pageSize() - (pa & (device.pageSize() - 1)));
            memory.write(pa, data, done, n);
            done += n;
        }
    }

    /**
     * Reads bytes through the CPU mapping.
     *
     * @param offset where in the buffer
     * @param length how many
     * @return the bytes
     * @throws InvalidArgumentException if the range is outside the buffer
     * @throws ObjectClosedException if the buffer was freed
     */
    public byte[] read(long offset, int length) {
        checkRange(offset, length);
        byte[] out = new byte[length];
        PhysicalMemory memory = device.memory();
        int done = 0;
        while (done < length) {
            long pa = physicalAddress(offset + done);
            int n = (int) Math.min(length - done, device.pageSize() - (pa & (device.pageSize() - 1)));
            memory.read(pa, out, done, n);
            done += n;
        }
        return out;
    }

    private void checkRange(long offset, long length) {
        if (freed) {
            throw new ObjectClosedException("coherent buffer " + this + " was freed");
        }
        if (length < 0 || offset < 0 || offset > size - length) {
            throw new InvalidArgumentException(
                    "access " + Hex.range(offset, length) + " is outside the buffer's " + Hex.size(size));
        }
    }

    /**
     * Whether {@link LinuxDevice#freeCoherent} was called.
     *
     * @return true once freed
     */
    public boolean isFreed() {
        return freed;
    }

    boolean markFreed() {
        synchronized (this) {
            if (freed) {
                return false;
            }
            freed = true;
            return true;
        }
    }

    @Override
    public String toString() {
        return path + " buffer of " + Hex.size(size) + " for " + device.name() + ", dma " + Hex.of(dmaHandle)
                + ", pages " + ownedRanges().segments();
    }
}
