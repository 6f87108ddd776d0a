package org.dmashare.pgtable;

import java.util.ArrayList;
import java.util.List;
import org.dmashare.internal.LongObjectMap;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * Where one {@link IoPageTable}'s tables come from. A table of at least one granule is allocated
 * in whole CPU pages from the memory's page allocator, as io-pgtable-arm allocates its tables;
 * a smaller one is a naturally aligned piece of a CPU page that this allocator cuts into equal
 * pieces (a slab, as io-pgtable-arm-v7s's kmem_cache for 1 KiB level-2 tables). A slab page is
 * allocated as {@link PageUse#PAGE_TABLE} when the first piece is needed and freed when its last
 * piece is. Table memory is zeroed when handed out. Not thread-safe: guarded by the owning
 * table's lock.
 */
final class TableMemory {
    /** One CPU page cut into pieces of one size; bit i of {@code used} is piece i. */
    private static final class Slab {
        final long pa;
        final long pieceBytes;
        final long[] used;
        int live;

        Slab(long pa, long pieceBytes, int pieces) {
            this.pa = pa;
            this.pieceBytes = pieceBytes;
            this.used = new long[(pieces + 63) >>> 6];
        }
    }

    private final PhysicalMemory memory;
    private final long granule;
    private final long pageSize;
    private final LongObjectMap<Slab> slabs = new LongObjectMap<>();
    /** Slabs with at least one free piece, most recently freed into last. */
    private final List<Slab> partial = new ArrayList<>();

    TableMemory(PhysicalMemory memory, long granule) {
        this.memory = memory;
        this.granule = granule;
        this.pageSize = memory.pageSize();
    }

    /** Bytes actually reserved for a table of {@code bytes}: itself below a granule, else whole pages. */
    long footprint(long bytes) {
        return bytes < granule && bytes < pageSize ? bytes : Math.max(bytes, pageSize);
    }

    /**
     * A zeroed, naturally aligned table of {@code bytes} (a power of two).
     *
     * @throws org.dmashare.PhysicalMemoryExhaustedException if no page is free; nothing changes
     */
    long allocate(long bytes) {
        long size = footprint(bytes);
        if (size >= pageSize) {
            long pa = memory.allocator().allocate(size, PageUse.PAGE_TABLE);
            memory.fill(pa, size, (byte) 0);
            return pa;
        }
        Slab slab = null;
        for (int i = partial.size() - 1; i >= 0; i--) {
            if (partial.get(i).pieceBytes == size) {
                slab = partial.get(i);
                break;
            }
        }
        int pieces = (int) (pageSize / size);
        if (slab == null) {
            long pa = memory.allocator().allocate(pageSize, PageUse.PAGE_TABLE);
            slab = new Slab(pa, size, pieces);
            slabs.put(pa, slab);
            partial.add(slab);
        }
        int piece = 0;
        while ((slab.used[piece >>> 6] & (1L << piece)) != 0) {
            piece++;
        }
        slab.used[piece >>> 6] |= 1L << piece;
        if (++slab.live == pieces) {
            partial.remove(slab);
        }
        long pa = slab.pa + piece * size;
        memory.fill(pa, size, (byte) 0);
        return pa;
    }

    /** Gives back a table {@link #allocate} returned for {@code bytes}. */
    void free(long pa, long bytes) {
        long size = footprint(bytes);
        if (size >= pageSize) {
            memory.allocator().free(pa, size);
            return;
        }
        long page = pa & -pageSize;
        Slab slab = slabs.get(page);
        int piece = (int) ((pa - page) / size);
        int pieces = (int) (pageSize / size);
        slab.used[piece >>> 6] &= ~(1L << piece);
        if (slab.live-- == pieces) {
            partial.add(slab);
        }
        if (slab.live == 0) {
            partial.remove(slab);
            slabs.remove(page);
            memory.allocator().free(page, pageSize);
        }
    }
}
