package org.dmashare.dmaapi;

import org.dmashare.memory.PhysicalMemory;

/**
 * Where the modelled DMA API gets buffer pages from: Linux's {@code alloc_pages},
 * {@code split_page} and {@code __free_pages}. The default draws from the memory's buddy
 * allocator; {@link ScriptedPageSource} hands out chosen addresses (still through the allocator's
 * accounting) so a test or demo can reproduce a documented physical placement without the model
 * knowing. Page-table pages never come from here.
 */
public interface PageSource {

    /** What {@link #allocate} returns when no block could be had (Linux: a NULL page). */
    long NO_PAGE = -1;

    /**
     * Allocates one naturally aligned block of 2^order CPU pages ({@code alloc_pages}).
     *
     * @param order the block's order, 0 for one page
     * @param noRetry the caller can cope with failure ({@code __GFP_NORETRY}); a source may fail
     *     such requests more readily
     * @return the block's physical address, or {@link #NO_PAGE}
     */
    long allocate(int order, boolean noRetry);

    /**
     * Turns a block from {@link #allocate} into independent pages ({@code split_page}), so they
     * can be freed one by one with {@code free(pa, 0)}.
     *
     * @param pa the block's address
     * @param order its order
     */
    void split(long pa, int order);

    /**
     * Returns a block (or, after {@link #split}, one page with order 0).
     *
     * @param pa the block's address
     * @param order its order
     */
    void free(long pa, int order);

    /**
     * The default source: the memory's buddy allocator, lowest address first.
     *
     * @param memory the memory whose allocator is used
     * @return the source
     */
    static PageSource buddy(PhysicalMemory memory) {
        return new BuddyPageSource(memory);
    }
}
