package org.dmashare.dmaapi;

import java.util.BitSet;
import org.dmashare.Hex;

/**
 * The DMA atomic pool ({@code dma_alloc_from_pool}): one chunk of pages taken from the page source
 * when first needed, handed out by a gen_pool with a one-page unit and "first fit, order aligned"
 * placement, so an allocation of k pages starts at a multiple of next_pow2(k) pages inside the
 * chunk. Only the k pages are owned. Thread-safe.
 */
final class AtomicPool {
    private final PageSource source;
    private final int pageSize;
    private final int order;
    private long chunk = PageSource.NO_PAGE;
    private final BitSet used = new BitSet();

    AtomicPool(PageSource source, int pageSize, long poolSize) {
        this.source = source;
        this.pageSize = pageSize;
        this.order = Long.numberOfTrailingZeros(poolSize / pageSize);
    }

    /** Allocates {@code pages} pages; returns the address or {@link PageSource#NO_PAGE}. */
    synchronized long allocate(long pages) {
        if (chunk == PageSource.NO_PAGE) {
            chunk = source.allocate(order, false);
            if (chunk == PageSource.NO_PAGE) {
                return PageSource.NO_PAGE;
            }
        }
        int units = 1 << order;
        int n = (int) pages;
        int align = (int) LinuxIovaDomain.roundUpPow2(n);
        for (int s = 0; s + n <= units; s += align) {
            int clash = used.nextSetBit(s);
            if (clash < 0 || clash >= s + n) {
                used.set(s, s + n);
                return chunk + (long) s * pageSize;
            }
        }
        return PageSource.NO_PAGE;
    }

    /** Whether {@code pa} lies in the pool's chunk ({@code dma_free_from_pool}'s test). */
    synchronized boolean contains(long pa) {
        return chunk != PageSource.NO_PAGE && pa >= chunk && pa < chunk + ((long) pageSize << order);
    }

    synchronized void free(long pa, long pages) {
        int s = (int) ((pa - chunk) / pageSize);
        used.clear(s, s + (int) pages);
    }

    @Override
    public synchronized String toString() {
        return "atomic pool "
                + (chunk == PageSource.NO_PAGE ? "(not yet allocated)" : Hex.range(chunk, (long) pageSize << order))
                + ", " + used.cardinality() + " pages used";
    }
}
