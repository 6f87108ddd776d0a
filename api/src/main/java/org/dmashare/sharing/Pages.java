package org.dmashare.sharing;

import org.dmashare.memory.PageAllocator;

/**
 * The blocks of one holder in the page allocator, kept allocated by reference counting: the owner
 * (a buffer or a caller's {@link PageLease}) holds one reference, every {@link PageLease} exported
 * from it and every buffer imported from them one more. The blocks go back to the allocator when
 * the last reference is released, whatever the order.
 */
final class Pages {
    /** The blocks, in buffer order; every one allocated for {@link #holder}. */
    final ScatterList blocks;
    /** The allocator's holder id of every block. */
    final long holder;
    /** Guarded by this. References still held; 0 once the blocks are freed. */
    private int refs = 1;

    Pages(ScatterList blocks, long holder) {
        this.blocks = blocks;
        this.holder = holder;
    }

    /**
     * Takes one more reference.
     *
     * @return false if the blocks were already freed (no reference taken)
     */
    synchronized boolean retain() {
        if (refs == 0) {
            return false;
        }
        refs++;
        return true;
    }

    /** Drops one reference; the last one frees every block. */
    void release(PageAllocator allocator) {
        synchronized (this) {
            if (--refs > 0) {
                return;
            }
        }
        for (ScatterList.Segment s : blocks) {
            allocator.free(s.pa(), s.length(), holder);
        }
    }
}
