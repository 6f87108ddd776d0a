package org.dmashare.sharing;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.IovaSpaceExhaustedException;
import org.dmashare.MappingConflictException;
import org.dmashare.ObjectClosedException;
import org.dmashare.PhysicalMemoryExhaustedException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.memory.PageAllocator;
import org.dmashare.memory.PageUse;
import org.dmashare.memory.PhysicalMemory;

/**
 * The safe helper for sharing one buffer between devices behind different IOMMUs.
 *
 * <p>Given a size and a set of domains it computes the alignment A = max(CPU page size, every
 * domain's granule, the granules of declared future domains, any requested alignment); allocates
 * physical blocks whose address and length are multiples of A (largest blocks first, tolerating
 * fragmentation, never requiring physical contiguity) and zeroes them; reserves one IOVA range per
 * domain (or one IOVA free in all of them); maps the blocks into each domain with the largest page
 * sizes that fit; syncs each domain's IOTLB; and returns a {@link SharedBuffer}. If anything fails, everything done so far is
 * undone: every domain, IOVA allocator and the page allocator are as before.
 *
 * <p>This is the "dance" of allocating for device A, exporting its scatter-gather table and
 * mapping it for device B, done so that it is correct by construction rather than by accident.
 * Thread-safe; one instance serves any number of threads.
 */
public final class DmaSharing {
    private final PhysicalMemory memory;
    private final AtomicLong live = new AtomicLong();
    private final ShareTransaction transaction;

    /**
     * Creates the helper for buffers in {@code memory}.
     *
     * @param memory where buffers are allocated; every domain must translate to it
     */
    public DmaSharing(PhysicalMemory memory) {
        this.memory = Objects.requireNonNull(memory, "memory");
        this.transaction = new ShareTransaction(memory);
    }

    /**
     * The memory buffers are allocated from.
     *
     * @return the memory
     */
    public PhysicalMemory memory() {
        return memory;
    }

    /**
     * Number of buffers allocated or imported by this helper and not yet closed.
     *
     * @return the count
     */
    public long liveBuffers() {
        return live.get();
    }

    /**
     * Allocates a buffer of {@code size} bytes and maps it read-write into every domain. Its bytes
     * are zero, as {@code dma_alloc_coherent}'s are: nothing a previous owner of the pages left
     * there reaches a device.
     *
     * @param size bytes, positive; the mapped length is rounded up to the alignment
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @return the buffer
     * @throws InvalidArgumentException for a bad size, a duplicate domain, a domain over other
     *     memory, or a size no aperture or memory could hold
     * @throws ObjectClosedException if a domain is closed
     * @throws PhysicalMemoryExhaustedException if memory cannot supply aligned blocks
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     */
    public SharedBuffer allocate(long size, List<? extends IommuDomain> domains) {
        return allocate(size, domains, ShareOptions.DEFAULTS);
    }

    /**
     * Allocates a buffer of {@code size} bytes, zeroed, and maps it into every domain as
     * {@code options} say.
     *
     * @param size bytes, positive; the mapped length is rounded up to the alignment
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @param options rights, alignment, identical IOVA, future domains
     * @return the buffer
     * @throws InvalidArgumentException for a bad size, a duplicate domain, a domain over other
     *     memory, or a size no aperture or memory could hold
     * @throws ObjectClosedException if a domain is closed
     * @throws PhysicalMemoryExhaustedException if memory cannot supply aligned blocks
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     * @throws MappingConflictException if a map fails (nothing is left mapped)
     */
    public SharedBuffer allocate(long size, List<? extends IommuDomain> domains, ShareOptions options) {
        List<IommuDomain> targets = transaction.checkDomains(domains, options);
        long alignment = transaction.alignment(targets, options);
        if (size <= 0 || size > memory.size() - (alignment - 1)) {
            throw new InvalidArgumentException("buffer size " + Hex.of(size) + " must be positive and, rounded up to the alignment "
                    + Hex.size(alignment) + ", fit the memory's " + Hex.size(memory.size()));
        }
        long length = roundUp(size, alignment);
        ShareTransaction.checkApertures(targets, length);
        ScatterList blocks = allocateBlocks(length, alignment);
        try {
            // Zeroed before any device can reach them: freed pages keep their last owner's data.
            for (ScatterList.Segment s : blocks) {
                memory.fill(s.pa(), s.length(), (byte) 0);
            }
            SharedBuffer buffer = new SharedBuffer(this, transaction, size, length, alignment, blocks, true, options);
            synchronized (buffer) {
                transaction.mapInitial(buffer, targets);
            }
            live.incrementAndGet();
            return buffer;
        } catch (RuntimeException e) {
            freeBlocks(blocks);
            throw e;
        }
    }

    /**
     * Maps an existing scatter list into every domain, contiguously, without taking ownership of
     * its pages: closing the buffer unmaps it but does not free them. Refused unless every
     * segment's address and length are multiples of the alignment A (computed as for
     * {@link #allocate}), since anything else would split the IOVA range or expose neighbouring
     * memory.
     *
     * @param list the segments, in buffer order, inside this helper's memory
     * @param domains paging domains over this helper's memory, at least one, no duplicates
     * @param options rights, alignment, identical IOVA, future domains
     * @return the buffer
     * @throws UnsafeScatterListException naming the first segment that is not aligned to A
     * @throws InvalidArgumentException if a segment lies outside memory, or for bad domains
     * @throws ObjectClosedException if a domain is closed
     * @throws IovaSpaceExhaustedException if a domain has no free IOVA range large enough
     * @throws MappingConflictException if a map fails (nothing is left mapped)
     */
    public SharedBuffer importScatterList(ScatterList list, List<? extends IommuDomain> domains, ShareOptions options) {
        Objects.requireNonNull(list, "list");
        List<IommuDomain> targets = transaction.checkDomains(domains, options);
        long alignment = transaction.alignment(targets, options);
        int index = 0;
        for (ScatterList.Segment s : list) {
            if (!memory.contains(s.pa(), s.length())) {
                throw new InvalidArgumentException("segment " + index + " " + s + " lies outside memory "
                        + Hex.range(memory.base(), memory.size()));
            }
            String why = (s.pa() % alignment != 0 ? "its address " + Hex.of(s.pa()) : "its length " + Hex.of(s.length()))
                    + " is not a multiple of the alignment " + Hex.size(alignment);
            if (s.pa() % alignment != 0 || s.length() % alignment != 0) {
                throw new UnsafeScatterListException(index, "cannot import scatter list: segment " + index + " " + s
                        + " is unsafe: " + why + " required by the domains' granules; mapping it would split the"
                        + " IOVA range or expose memory outside the list. Accepted: segments whose address and length"
                        + " are multiples of " + Hex.size(alignment));
            }
            index++;
        }
        ShareTransaction.checkApertures(targets, list.totalLength());
        SharedBuffer buffer = new SharedBuffer(this, transaction, list.totalLength(), list.totalLength(), alignment,
                list, false, options);
        synchronized (buffer) {
            transaction.mapInitial(buffer, targets);
        }
        live.incrementAndGet();
        return buffer;
    }

    /**
     * The alignment A a buffer for {@code domains} would get: max(CPU page size, each domain's
     * granule, each future domain's granule, the future granule, the requested alignment).
     *
     * @param domains the domains
     * @param options the options
     * @return A, a power of two
     */
    public long alignment(List<? extends IommuDomain> domains, ShareOptions options) {
        Objects.requireNonNull(domains, "domains");
        Objects.requireNonNull(options, "options");
        return transaction.alignment(domains, options);
    }

    // ---- package internals used by SharedBuffer ----

    void released() {
        live.decrementAndGet();
    }

    void freeBlocks(ScatterList blocks) {
        PageAllocator allocator = memory.allocator();
        for (ScatterList.Segment s : blocks) {
            allocator.free(s.pa(), s.length());
        }
    }

    /** Largest-first aligned blocks covering {@code length}; all or nothing. */
    private ScatterList allocateBlocks(long length, long alignment) {
        PageAllocator allocator = memory.allocator();
        // Usually one block (the buddy allocator hands out the largest that fits): start small.
        List<ScatterList.Segment> blocks = new ArrayList<>(1);
        long remaining = length;
        long max = Long.highestOneBit(remaining);
        try {
            while (remaining > 0) {
                max = Math.min(max, Long.highestOneBit(remaining));
                PageAllocator.Block b = allocator.allocateLargest(max, alignment, PageUse.BUFFER);
                if (b.size() == length) {
                    // One block, the usual case: no list to build and copy.
                    return ScatterList.of(new ScatterList.Segment(b.pa(), b.size()));
                }
                blocks.add(new ScatterList.Segment(b.pa(), b.size()));
                remaining -= b.size();
                max = b.size();
            }
        } catch (RuntimeException e) {
            for (ScatterList.Segment s : blocks) {
                allocator.free(s.pa(), s.length());
            }
            if (e instanceof PhysicalMemoryExhaustedException) {
                throw new PhysicalMemoryExhaustedException("cannot allocate " + Hex.size(length) + " in blocks aligned to "
                        + Hex.size(alignment) + ": " + e.getMessage(), e);
            }
            throw e;
        }
        return ScatterList.of(blocks);
    }

    static long roundUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }

    @Override
    public String toString() {
        return "DmaSharing[" + memory + ", " + live.get() + " live buffers]";
    }
}
