package org.dmashare.dmaapi;

import java.util.BitSet;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * The global contiguous memory area ({@code dma_contiguous_default_area}): a physical range
 * reserved from the page allocator when the model is built, handed out page by page as
 * {@code cma_alloc} does: exactly the pages asked for, the first free run aligned to
 * 2^min(order, {@value #CMA_ALIGNMENT}) pages, lowest address first. Thread-safe.
 */
final class CmaArea {
    /** {@code CONFIG_CMA_ALIGNMENT}: the largest alignment order CMA honours. */
    static final int CMA_ALIGNMENT = 8;

    private final long base;
    private final long size;
    private final int pageSize;
    private final BitSet used = new BitSet();

    CmaArea(PhysicalMemory memory, long base, long size) {
        this.pageSize = memory.pageSize();
        if (size <= 0 || Long.bitCount(size) != 1 || (base & (size - 1)) != 0 || size < pageSize) {
            throw new InvalidArgumentException("CMA area " + Hex.range(base, size)
                    + " must be a naturally aligned power-of-two block of at least one page");
        }
        memory.allocator().allocateAt(base, size, PageUse.BUFFER);
        this.base = base;
        this.size = size;
    }

    /** {@code cma_alloc}: {@code pages} pages aligned to 2^min(order, CMA_ALIGNMENT) pages, or NO_PAGE. */
    synchronized long allocate(long pages, int order) {
        int align = 1 << Math.min(order, CMA_ALIGNMENT);
        int units = (int) (size / pageSize);
        int n = (int) pages;
        for (int s = 0; s + n <= units; s += align) {
            int clash = used.nextSetBit(s);
            if (clash < 0 || clash >= s + n) {
                used.set(s, s + n);
                return base + (long) s * pageSize;
            }
        }
        return PageSource.NO_PAGE;
    }

    /** {@code cma_release}: false if {@code pa} is not in the area. */
    synchronized boolean release(long pa, long pages) {
        if (pa < base || pa >= base + size) {
            return false;
        }
        int s = (int) ((pa - base) / pageSize);
        used.clear(s, s + (int) pages);
        return true;
    }

    @Override
    public synchronized String toString() {
        return "CMA area " + Hex.range(base, size) + ", " + used.cardinality() + " pages used";
    }
}
