package org.dmashare.sharing;

import org.dmashare.Hex;
import org.dmashare.ObjectClosedException;
import org.dmashare.memory.PageAllocator;

/**
 * A reference on pages that its holder may lend for import, in the spirit of a dma-buf: the only
 * thing {@link DmaSharing#importScatterList} accepts as proof that the importer may map the
 * pages. Knowing the physical addresses ({@link SharedBuffer#blocks()}) is not a lending.
 *
 * <p>Two ways to get one: {@link SharedBuffer#export()} (a new reference on a live buffer's
 * pages; the buffer and the lease can then be closed in any order) and
 * {@link DmaSharing#allocatePages} (pages the caller allocates for lending; the lease is their only
 * owner).
 *
 * <p>Ownership, Okio-style: the pages stay allocated while anyone holds a reference: the buffer
 * they were allocated for (until closed), every open lease on them, and every buffer imported from
 * a lease (until closed). The last of these to close returns the pages to the page allocator.
 * Closing the lease drops its reference only: buffers already imported from it keep theirs.
 * Closing twice is harmless. Thread-safe.
 */
public final class PageLease implements AutoCloseable {
    private final Pages pages;
    private final PageAllocator allocator;
    /** Guarded by this. */
    private boolean closed;

    /** Wraps a reference the caller has already taken on {@code pages}. */
    PageLease(Pages pages, PageAllocator allocator) {
        this.pages = pages;
        this.allocator = allocator;
    }

    /**
     * The lent pages: every block of the holder, in buffer order. A scatter list for import may
     * name any non-overlapping parts of them.
     *
     * @return the blocks
     */
    public ScatterList pages() {
        return pages.blocks;
    }

    /**
     * The page allocator's holder id of the lent pages ({@link PageAllocator#holding}).
     *
     * @return the holder id
     */
    public long holder() {
        return pages.holder;
    }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once closed
     */
    public synchronized boolean isClosed() {
        return closed;
    }

    /**
     * Drops this lease's reference. The pages go back to the allocator only if no buffer and no
     * other lease still holds them. Closing twice is harmless.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        pages.release(allocator);
    }

    /** Takes a reference for an importer; the lease must be open and its pages still allocated. */
    Pages retainForImport() {
        synchronized (this) {
            if (closed) {
                throw new ObjectClosedException("cannot import through " + this + ": the lease is closed; accepted:"
                        + " an open lease from SharedBuffer.export() or DmaSharing.allocatePages");
            }
            // Open lease: it holds a reference, so the pages cannot have been freed.
            if (!pages.retain()) {
                throw new AssertionError("an open lease's pages were freed");
            }
        }
        return pages;
    }

    @Override
    public String toString() {
        return "PageLease[holder #" + pages.holder + ", " + pages.blocks.size() + " blocks, "
                + Hex.size(pages.blocks.totalLength()) + (isClosed() ? ", closed" : "") + "]";
    }
}
